"""Reading import files (CSV or JSON) row by row, with the errors people need to fix them.

Shared by every import: the file is decoded strictly as UTF-8 (a BOM is accepted and dropped),
the header is checked against the columns the import knows, and each data row comes out with
its number so that a rejected row can be named precisely.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from g2p_payment_phee.errors import FieldError, ImportRejected
from g2p_payment_phee.i18n import _

Format = Literal["csv", "json"]

MAX_COLUMNS = 200
"""Columns a CSV header or data row may have; far above any import's known columns."""
MAX_LINE_CHARS = 64 * 1024
"""Characters in one CSV line (a quoted value spanning lines is checked line by line)."""
MAX_JSON_DEPTH = 64
"""Nesting of arrays and objects in a JSON import; the formats need three levels."""

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do).

    ``rows`` counts data rows read; every row is either ``created``, ``updated`` or
    ``rejected``; ``errors`` lists each problem of each rejected row (row, field, reason), in
    file order. Row numbers are spreadsheet rows for CSV (the header is row 1) and 1-based
    positions in the array for JSON.
    """

    dry_run: bool = False
    file_name: str | None = None
    format: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list[FieldError] = field(default_factory=list)

    @property
    def imported(self) -> int:
        """Rows written (or that would be written): created plus updated."""
        return self.created + self.updated

    def summary(self) -> str:
        """One line for people: counts and whether anything was written."""
        if self.dry_run:
            text = _(
                "{rows} rows: would import {imported} ({created} new, {updated} updated), "
                "rejected {rejected}"
            )
        else:
            text = _(
                "{rows} rows: imported {imported} ({created} new, {updated} updated), "
                "rejected {rejected}"
            )
        return text.format(
            rows=self.rows,
            imported=self.imported,
            created=self.created,
            updated=self.updated,
            rejected=self.rejected,
        )

    def reject(self, row: int, field_name: str, reason: str) -> None:
        """Record one problem of one row (a row with several problems is rejected once)."""
        if not any(e.row == row for e in self.errors):
            self.rejected += 1
        self.errors.append(FieldError(field_name, reason, row))


def read_source(source: Path | bytes) -> tuple[bytes, str]:
    """The file's bytes and a name for messages."""
    if isinstance(source, Path):
        if not source.is_file():
            raise ImportRejected(_("{source} is not a file").format(source=source))
        return source.read_bytes(), source.name
    return source, "upload"


def guess_format(name: str, fmt: Format | None) -> Format:
    """The format asked for, or the one the file name says."""
    if fmt is not None:
        return fmt
    suffix = Path(name).suffix.lower()
    if suffix in {".csv", ".json"}:
        return "csv" if suffix == ".csv" else "json"
    raise ImportRejected(
        _("cannot tell the format of {name!r}: use a .csv or .json file").format(name=name)
    )


def decode(data: bytes, name: str) -> str:
    """Strict UTF-8 text without BOM; a Latin-1 (or any other) file is refused with the byte."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ImportRejected(
            _(
                "{name} is not UTF-8 (byte 0x{byte:02x} at offset {start}); save it as "
                "UTF-8 and import again"
            ).format(name=name, byte=data[error.start], start=error.start)
        ) from None


def iter_rows(
    data: bytes,
    name: str,
    fmt: Format,
    *,
    required: Sequence[str],
    optional: Sequence[str],
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, values) for every data row; the header/keys are checked first.

    CSV rows are numbered as a spreadsheet shows them (the header is row 1); JSON items from 1,
    with missing keys given as None (the row's validation names them) and numbers as Decimal.
    """
    text = decode(data, name)
    if fmt == "json":
        check_json_depth(data, name)
    if fmt == "csv":
        yield from _csv_rows(text, name, required, optional)
    else:
        yield from _json_rows(text, name, required, optional)


def check_json_depth(data: bytes, name: str) -> None:
    """ImportRejected when arrays/objects nest deeper than MAX_JSON_DEPTH (linear, before
    parsing: the parser itself would recurse, and fail with RecursionError past ~1,000)."""
    # Strings go first (brackets inside them do not nest), then everything but brackets:
    # both in C, so the loop below sees only the brackets.
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = 0
    for bracket in brackets:
        if bracket in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ImportRejected(
                    _(
                        "{name}: JSON nested deeper than {MAX_JSON_DEPTH} levels; imports need "
                        "three"
                    ).format(name=name, MAX_JSON_DEPTH=MAX_JSON_DEPTH)
                )
        else:
            depth -= 1


def limited_lines(lines: Iterable[str], name: str) -> Iterator[str]:
    """The lines, refusing one longer than MAX_LINE_CHARS (a cheap guard for the CSV parser)."""
    for number, line in enumerate(lines, start=1):
        if len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
            raise ImportRejected(
                _(
                    "{name} line {number} is longer than {count} K characters (the limit "
                    "for one line)"
                ).format(name=name, number=number, count=MAX_LINE_CHARS // 1024)
            )
        yield line


def check_column_count(count: int, name: str) -> None:
    """ImportRejected when a header has more than MAX_COLUMNS columns."""
    if count > MAX_COLUMNS:
        raise ImportRejected(
            _("{name}: the header has {count} columns; at most {MAX_COLUMNS} are allowed").format(
                name=name, count=count, MAX_COLUMNS=MAX_COLUMNS
            )
        )


def _check_columns(
    columns: Sequence[str], name: str, required: Sequence[str], optional: Sequence[str]
) -> None:
    check_column_count(len(columns), name)
    known = set(required) | set(optional)
    present = set(columns)
    unknown = [c for c in columns if c not in known]
    missing = [c for c in required if c not in present]
    duplicated = sorted(c for c, n in Counter(columns).items() if n > 1)
    problems = []
    if missing:
        problems.append(_("missing column(s): {missing}").format(missing=", ".join(missing)))
    if unknown:
        problems.append(
            _("unknown column(s): {unknown} (known: {known})").format(
                unknown=", ".join(unknown), known=", ".join(sorted(known))
            )
        )
    if duplicated:
        problems.append(
            _("repeated column(s): {duplicated}").format(duplicated=", ".join(duplicated))
        )
    if problems:
        raise ImportRejected(f"{name}: {'; '.join(problems)}")


def _csv_rows(
    text: str, name: str, required: Sequence[str], optional: Sequence[str]
) -> Iterator[tuple[int, dict[str, Any]]]:
    lines = limited_lines(io.StringIO(text, newline=""), name)
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ImportRejected(_("{name} is empty: it needs a header row").format(name=name))
        columns = [c.strip().lower() for c in header]
        _check_columns(columns, name, required, optional)
        for values in reader:
            row = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(columns):
                raise ImportRejected(
                    _("{name} line {row}: {count} values for {columns} columns").format(
                        name=name, row=row, count=len(values), columns=len(columns)
                    )
                )
            yield row, {c: (v.strip() or None) for c, v in zip(columns, values, strict=True)}
    except csv.Error as error:
        raise ImportRejected(
            _("{name} line {line_num}: malformed CSV ({error})").format(
                name=name, line_num=reader.line_num, error=error
            )
        ) from None


def _json_rows(
    text: str, name: str, required: Sequence[str], optional: Sequence[str]
) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        items = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise ImportRejected(
            _("{name}: not valid JSON (line {lineno}, column {colno}: {msg})").format(
                name=name, lineno=error.lineno, colno=error.colno, msg=error.msg
            )
        ) from None
    if not isinstance(items, list):
        raise ImportRejected(_("{name}: the JSON must be an array of objects").format(name=name))
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ImportRejected(
                _("{name}: item {index} is not an object").format(name=name, index=index)
            )
        _check_columns(list(item), f"{name} item {index}", (), [*required, *optional])
        values = dict.fromkeys(required)
        values.update({k: _json_value(v) for k, v in item.items()})
        yield index, values


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    return value
