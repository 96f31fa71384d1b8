"""Reading registrant import files (CSV and JSON) into raw rows, before any business rule.

A file that cannot be read at all (not UTF-8, malformed CSV or JSON, unknown or missing columns)
raises ImportRejected before anything is written; problems confined to one row (wrong number of
values, a JSON value of the wrong type) travel with that row and reject only it.
The format is described in ``docs/import.md``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from g2p_payment_phee.errors import FieldError, ImportRejected
from g2p_payment_phee.i18n import _
from g2p_payment_phee.imports import check_column_count, check_json_depth, limited_lines

Format = Literal["csv", "json"]

SCALAR_FIELDS = (
    "reference",
    "kind",
    "name",
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "address",
    "email",
    "group_reference",
)
ID_KEYS = {"type": "id_type", "value": "id_value", "expiry": "id_expiry"}
ACCOUNT_KEYS = ("account_number", "iban", "bank_name", "bank_code", "bank_country")
CSV_COLUMNS = (
    *SCALAR_FIELDS[:-1],
    "phone",
    *ID_KEYS.values(),
    "bank_name",
    "bank_code",
    "bank_country",
    "account_number",
    "iban",
    "group_reference",
)
REQUIRED_COLUMNS = ("reference", "name")
JSON_FIELDS = frozenset({*SCALAR_FIELDS, "phones", "ids", "bank_accounts"})
PHONE_SEPARATOR = ";"
ROW_FIELD = "row"

_BLOCK = 1 << 20
_BOMS = {codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16", codecs.BOM_UTF32: "UTF-32"}


@dataclass(slots=True)
class RawRow:
    """One data row in canonical form: strings, plus lists for phones, IDs and accounts.

    ``present`` names the fields the row gives (a CSV column or a JSON key), which is what a
    re-import replaces; ``problems`` are errors already found while reading.
    """

    row: int
    values: dict[str, Any]
    present: frozenset[str]
    problems: list[FieldError] = field(default_factory=list)


class FieldLabels:
    """How a nested value is named in errors: the CSV column, or a JSON path."""

    def __init__(self, fmt: Format) -> None:
        self.fmt = fmt

    def prefix(self, collection: str, index: int) -> str:
        """What goes before a nested key: ``bank_accounts[0].`` in JSON, nothing in CSV."""
        return f"{collection}[{index}]." if self.fmt == "json" else ""

    def nested(self, collection: str, index: int, key: str | None = None) -> str:
        """The label of ``collection[index].key`` in this format."""
        if self.fmt == "json":
            return f"{collection}[{index}]" + (f".{key}" if key else "")
        if collection == "phones":
            return "phone"
        if collection == "ids" and key is not None:
            return ID_KEYS.get(key, key)
        return key or collection


def guess_format(source: Path | bytes, fmt: Format | None) -> Format:
    """The format asked for, else the file's suffix, else a sniff of the first character."""
    if fmt is not None:
        if fmt not in ("csv", "json"):
            raise ImportRejected(
                _("unknown import format {fmt!r}: use csv or json").format(fmt=fmt)
            )
        return fmt
    if isinstance(source, Path):
        suffix = source.suffix.lower()
        if suffix in (".csv", ".json"):
            return "csv" if suffix == ".csv" else "json"
        raise ImportRejected(
            _("cannot tell the format of {name!r}: name it .csv or .json").format(name=source.name)
        )
    head = source[:64].removeprefix(codecs.BOM_UTF8).lstrip()
    return "json" if head.startswith(b"[") else "csv"


@dataclass
class RowStream:
    """A file's data rows, to iterate once, and ``total``: how many records it holds (blank CSV
    lines included, so that progress can be told while the rows are read)."""

    total: int
    rows: Iterator[RawRow]

    def __iter__(self) -> Iterator[RawRow]:
        return self.rows


def read_rows(source: Path | bytes, fmt: Format) -> RowStream:
    """The file's data rows; ImportRejected, before any row is returned, if it cannot be read.

    The whole file is checked first (encoding, CSV structure or JSON syntax), so that an import
    never stops half-way on a broken file; CSV rows are then streamed.
    """
    _check_utf8(source)
    if fmt == "json":
        document = _json_document(source)
        return RowStream(len(document), _json_rows(document))
    header, records = _scan_csv(source)
    return RowStream(records, _csv_rows(source, header))


def _open_binary(source: Path | bytes) -> BinaryIO:
    if isinstance(source, Path):
        try:
            return source.open("rb")
        except OSError as error:
            raise ImportRejected(
                _("cannot open {source}: {strerror}").format(source=source, strerror=error.strerror)
            ) from error
    return io.BytesIO(source)


def _check_utf8(source: Path | bytes) -> None:
    """Refuse non-UTF-8 files up front, naming the first bad byte and its line."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    read = newlines = 0
    with _open_binary(source) as stream:
        while block := stream.read(_BLOCK):
            if read == 0:
                _refuse_utf16(block)
            buffered = len(decoder.getstate()[0])
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                _refuse_encoding(error, read - buffered, newlines)
            read += len(block)
            newlines += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            _refuse_encoding(error, read - len(decoder.getstate()[0]), newlines)


def _refuse_utf16(block: bytes) -> None:
    for bom, name in _BOMS.items():
        if block.startswith(bom):
            raise ImportRejected(
                _("the file is {name} text; save it as UTF-8 and import it again").format(name=name)
            )


def _refuse_encoding(error: UnicodeDecodeError, base: int, newlines: int) -> None:
    data = error.object
    offset = base + error.start
    line = newlines + bytes(data[: error.start]).count(b"\n") + 1
    byte = data[error.start]
    raise ImportRejected(
        _(
            "the file must be UTF-8 text: byte 0x{byte:02X} at offset {offset} "
            "(line {line}) is not valid UTF-8 (a Latin-1 or Windows-1252 file?); "
            "save it as UTF-8 and import it again"
        ).format(byte=byte, offset=offset, line=line)
    ) from None


@contextmanager
def _csv_reader(source: Path | bytes) -> Iterator[Any]:
    with _open_binary(source) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        yield csv.reader(limited_lines(text, "the file"), strict=True)


def _scan_csv(source: Path | bytes) -> tuple[list[str], int]:
    """The checked header and the number of records after it, after reading the whole file
    once for CSV syntax errors."""
    records = 0
    with _csv_reader(source) as reader:
        start = 1
        try:
            header = _read_header(next(reader, None))
            start = reader.line_num + 1
            for _record in reader:
                records += 1
                start = reader.line_num + 1
        except csv.Error as error:
            where = f"line {start}"
            if reader.line_num > start:
                where = _("the row starting on line {start} (read to line {line_num})").format(
                    start=start, line_num=reader.line_num
                )
            raise ImportRejected(
                _(
                    "malformed CSV at {where}: {error}; values containing commas, quotes "
                    "or line breaks must be enclosed in double quotes, and quotes inside "
                    "them doubled"
                ).format(where=where, error=error)
            ) from None
    return header, records


def _csv_rows(source: Path | bytes, header: list[str]) -> Iterator[RawRow]:
    layout = _CsvLayout(header)
    with _csv_reader(source) as reader:
        next(reader)
        for number, record in enumerate(reader, start=2):
            if any(cell.strip() for cell in record):
                yield layout.row(number, record)


def _read_header(record: list[str] | None) -> list[str]:
    if record is None:
        raise ImportRejected(_("the file is empty: it needs a header row and data rows"))
    check_column_count(len(record), "the file")
    header = [name.strip().lower() for name in record]
    if len(header) == 1 and ";" in header[0]:
        raise ImportRejected(_("the header is separated by ';': separate columns with commas"))
    if "" in header:
        raise ImportRejected(
            _("column {count} of the header has no name").format(count=header.index("") + 1)
        )
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise ImportRejected(
            _("duplicate columns in the header: {duplicates}").format(
                duplicates=", ".join(duplicates)
            )
        )
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        raise ImportRejected(
            _("unknown columns: {unknown}; known columns are: {CSV_COLUMNS}").format(
                unknown=", ".join(unknown), CSV_COLUMNS=", ".join(CSV_COLUMNS)
            )
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ImportRejected(
            _("missing required columns: {missing}").format(missing=", ".join(missing))
        )
    _check_column_groups(set(header))
    return header


def _check_column_groups(columns: set[str]) -> None:
    if ("id_type" in columns) != ("id_value" in columns):
        raise ImportRejected(_("columns id_type and id_value go together: give both or neither"))
    if "id_expiry" in columns and "id_value" not in columns:
        raise ImportRejected(_("column id_expiry needs the columns id_type and id_value"))
    bank = columns & {"bank_name", "bank_code", "bank_country"}
    if bank and not columns & {"account_number", "iban"}:
        raise ImportRejected(
            _("columns {bank} need an account_number or iban column").format(
                bank=", ".join(sorted(bank))
            )
        )


class _CsvLayout:
    """Turns CSV records into canonical rows, for one header."""

    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.scalars = [name for name in SCALAR_FIELDS if name in header]
        self.phones = "phone" in header
        self.ids = "id_type" in header
        self.accounts = "account_number" in header or "iban" in header
        collections = {"phones": self.phones, "ids": self.ids, "bank_accounts": self.accounts}
        self.present = frozenset(self.scalars + [name for name, on in collections.items() if on])

    def row(self, number: int, record: list[str]) -> RawRow:
        """One data row; a record of the wrong width is a row problem."""
        problems = []
        if len(record) != len(self.header):
            problems.append(
                FieldError(
                    ROW_FIELD,
                    _(
                        "has {count} values but the header has {columns} columns (a value "
                        "containing a comma must be enclosed in double quotes)"
                    ).format(count=len(record), columns=len(self.header)),
                    number,
                )
            )
            record = (record + [""] * len(self.header))[: len(self.header)]
        cells = dict(zip(self.header, record, strict=True))
        values: dict[str, Any] = {name: cells[name] for name in self.scalars}
        if self.phones:
            values["phones"] = [p for p in cells["phone"].split(PHONE_SEPARATOR) if p.strip()]
        if self.ids:
            values["ids"] = _csv_ids(number, cells, problems)
        if self.accounts:
            values["bank_accounts"] = _csv_accounts(number, cells, problems)
        return RawRow(number, values, self.present, problems)


def _csv_ids(number: int, cells: dict[str, str], problems: list[FieldError]) -> list[Any]:
    ids = {key: cells.get(column, "") for key, column in ID_KEYS.items()}
    if ids["type"].strip() or ids["value"].strip():
        return [ids]
    if ids["expiry"].strip():
        problems.append(FieldError("id_expiry", _("is given without an ID"), number))
    return []


def _csv_accounts(number: int, cells: dict[str, str], problems: list[FieldError]) -> list[Any]:
    account = {key: cells.get(key, "") for key in ACCOUNT_KEYS}
    if account["account_number"].strip() or account["iban"].strip():
        return [account]
    for key in ("bank_name", "bank_code", "bank_country"):
        if account[key].strip():
            problems.append(
                FieldError(key, _("is given without an account_number or iban"), number)
            )
    return []


def _json_document(source: Path | bytes) -> list[Any]:
    data = source.read_bytes() if isinstance(source, Path) else source
    check_json_depth(data, "the file")
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except json.JSONDecodeError as error:
        raise ImportRejected(
            _("malformed JSON at line {lineno}, column {colno}: {msg}").format(
                lineno=error.lineno, colno=error.colno, msg=error.msg
            )
        ) from None
    if not isinstance(document, list):
        raise ImportRejected(_("the JSON file must hold an array of registrant objects"))
    return document


def _json_rows(document: list[Any]) -> Iterator[RawRow]:
    for index, item in enumerate(document, start=1):
        yield _json_row(index, item)


def _json_row(number: int, item: Any) -> RawRow:
    if not isinstance(item, dict):
        problem = FieldError(ROW_FIELD, _("must be a JSON object"), number)
        return RawRow(number, {}, frozenset(), [problem])
    problems = [
        FieldError(str(key), _("is not a known field"), number)
        for key in item
        if key not in JSON_FIELDS
    ]
    values: dict[str, Any] = {}
    for key in SCALAR_FIELDS:
        if key in item:
            values[key] = _json_text(item[key], key, number, problems)
    if "phones" in item:
        values["phones"] = _json_phones(item["phones"], number, problems)
    if "ids" in item:
        values["ids"] = _json_objects(item["ids"], "ids", ID_KEYS, number, problems)
    if "bank_accounts" in item:
        keys = dict.fromkeys(ACCOUNT_KEYS, "")
        values["bank_accounts"] = _json_objects(
            item["bank_accounts"], "bank_accounts", keys, number, problems
        )
    return RawRow(number, values, frozenset(values), problems)


def _json_text(value: Any, label: str, number: int, problems: list[FieldError]) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    problems.append(
        FieldError(
            label, _("must be a string, not {type}").format(type=type(value).__name__), number
        )
    )
    return ""


def _json_phones(value: Any, number: int, problems: list[FieldError]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(FieldError("phones", _("must be a list of strings"), number))
        return []
    texts = [_json_text(v, f"phones[{i}]", number, problems) for i, v in enumerate(value)]
    return [text for text in texts if text.strip()]


def _json_objects(
    value: Any, label: str, keys: dict[str, str], number: int, problems: list[FieldError]
) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(FieldError(label, _("must be a list of objects"), number))
        return []
    objects = []
    for index, item in enumerate(value):
        where = f"{label}[{index}]"
        if not isinstance(item, dict):
            problems.append(FieldError(where, _("must be an object"), number))
            continue
        for key in item:
            if key not in keys:
                problems.append(FieldError(f"{where}.{key}", _("is not a known field"), number))
        objects.append(
            {key: _json_text(item.get(key), f"{where}.{key}", number, problems) for key in keys}
        )
    return objects
