"""The bulk file as PHEE sees it: multipart normalisation, header check, rows, raw JSON.

PHEE does not use a multipart parser for ``/batchtransactions``: it reads the body line by line
and rebuilds the "file" itself (phee-api.md 3.2 and the reference README). That text is both
what the signature covers and what is saved, so the emulator reproduces it exactly.
"""

from __future__ import annotations

import json
import uuid
from operator import methodcaller
from typing import Any, NamedTuple

ALLOWED_COLUMNS = (
    "id",
    "request_id",
    "payment_mode",
    "payer_identifier_type",
    "payer_identifier",
    "payee_identifier_type",
    "payee_identifier",
    "amount",
    "currency",
    "note",
    "account_number",
    "program_shortcode",
    "cycle",
    "payee_dfsp_id",
    "batch_id",
)
_ALLOWED = frozenset(ALLOWED_COLUMNS)

RAW_HEADER = (
    "id,request_id,payment_mode,payer_identifier_type,payer_identifier,payee_identifier_type,"
    "payee_identifier,amount,currency,note,program_shortcode,cycle,payee_dfsp_id,batch_id,"
    "account_number"
)

_JAVA_WHITESPACE = "".join(map(chr, range(33)))


def java_trim(text: str) -> str:
    """``String.trim()``: strip code points up to U+0020 and nothing else."""
    return text.strip(_JAVA_WHITESPACE)


def java_split_commas(line: str) -> list[str]:
    """``String.split(",")``: trailing empty strings are dropped (unless all are empty)."""
    parts = line.split(",")
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts


def boundary_of(content_type: str) -> str:
    """The boundary parameter as PHEE reads it (quotes are kept, so a quoted one never matches)."""
    index = content_type.find("boundary=")
    if index < 0:
        return ""
    return content_type[index + len("boundary=") :].split(";", 1)[0].strip()


def normalise_multipart(body: str, boundary: str) -> str:
    """Rebuild the uploaded file from a multipart body exactly as PHEE does.

    After each line containing the boundary, part headers are skipped up to the first empty
    line; content lines are then kept until a line containing the boundary or an empty line
    (that line is consumed). Kept lines are joined with ``\\n`` and Java-trimmed.
    """
    if not boundary:
        return ""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    count = len(lines)
    i = 0
    while i < count:
        line = lines[i]
        i += 1
        if boundary not in line:
            continue
        while i < count and lines[i] != "":
            i += 1
        i += 1
        while i < count and lines[i] != "" and boundary not in lines[i]:
            kept.append(lines[i])
            i += 1
        i += 1
    return java_trim("\n".join(kept))


def header_is_valid(text: str) -> bool:
    """Subset test of the header columns against PHEE's allowed names (case-sensitive)."""
    header = text.split("\n", 1)[0]
    return all(column in _ALLOWED for column in java_split_commas(header))


class Row(NamedTuple):
    """One data row, by column name; missing columns read as empty strings."""

    position: int
    row_id: str
    request_id: str
    payment_mode: str
    payer_identifier_type: str
    payer_identifier: str
    payee_identifier_type: str
    payee_identifier: str
    amount: str
    currency: str
    note: str
    payee_dfsp_id: str
    malformed: bool


_ROW_FIELDS = (
    "id",
    "request_id",
    "payment_mode",
    "payer_identifier_type",
    "payer_identifier",
    "payee_identifier_type",
    "payee_identifier",
    "amount",
    "currency",
    "note",
    "payee_dfsp_id",
)


class Table:
    """The data rows of a normalised file, column by column.

    When every line has the header's number of commas (the normal case) the columns are cut
    out of one flat split, which keeps per-row allocations (and garbage collection) away from
    the upload path. Otherwise rows are padded or cut to the header width and rows longer than
    the header are listed in ``malformed``. A column the header lacks reads as empty strings.
    """

    def __init__(self, text: str) -> None:
        lines = text.split("\n")
        header = java_split_commas(lines[0])
        width = len(header)
        self.count = len(lines) - 1
        self.positions = {
            name: header.index(name) if name in header else width for name in _ROW_FIELDS
        }
        self.malformed: set[int] = set()
        if set(map(methodcaller("count", ","), lines)) == {width - 1}:
            flat = text.replace("\n", ",").split(",")
            self._columns = [flat[width + k :: width] for k in range(width)]
        else:
            self._columns = self._irregular(lines[1:], width)
        self._columns.append([""] * self.count)

    def _irregular(self, lines: list[str], width: int) -> list[list[str]]:
        rows = [line.split(",") for line in lines]
        for index, values in enumerate(rows):
            if len(values) > width:
                self.malformed.add(index)
            rows[index] = (values + [""] * width)[:width]
        return [list(column) for column in zip(*rows, strict=True)] or [[] for _ in range(width)]

    def __len__(self) -> int:
        return self.count

    def column(self, name: str) -> list[str]:
        """All values of one column (empty strings when the header lacks it)."""
        return self._columns[self.positions[name]]


def parse_rows(text: str) -> list[Row]:
    """Parse the data rows of a normalised file (header mapped by name, like Jackson CSV).

    A row with more values than the header has columns is flagged ``malformed``.
    """
    table = Table(text)
    columns = [table.column(name) for name in _ROW_FIELDS]
    malformed = table.malformed
    make = Row._make
    return [
        make((i, *values, i in malformed)) for i, values in enumerate(zip(*columns, strict=True))
    ]


def request_ids(text: str) -> list[str]:
    """Only the request_id column of every data row (fast path for inspection)."""
    lines = text.split("\n")
    header = java_split_commas(lines[0])
    if "request_id" not in header:
        return [""] * (len(lines) - 1)
    pos = header.index("request_id")
    out: list[str] = []
    for line in lines[1:]:
        values = line.split(",", pos + 1)
        out.append(values[pos] if pos < len(values) else "")
    return out


class RawBodyError(ValueError):
    """A ``Type: raw`` body that PHEE's JSON mapper cannot read."""


def raw_json_to_csv(body: str) -> str:
    """Convert a ``Type: raw`` JSON body to PHEE's 15-column CSV (phee-api.md 3.3)."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise RawBodyError(f"Cannot parse JSON body: {exc}") from exc
    items = data if isinstance(data, list) else [data]
    lines = [RAW_HEADER]
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise RawBodyError("Cannot deserialize value of type `Transaction` from non-object")
        lines.append(_raw_item_line(index, item))
    return "\n".join(lines)


def _raw_item_line(index: int, item: dict[str, Any]) -> str:
    payer_type, payer = _party(item.get("debitParty"))
    payee_type, payee = _party(item.get("creditParty"))
    request_id = _text(item.get("requestId")) or str(uuid.uuid4())
    values = [
        str(index),
        request_id,
        _text(item.get("paymentMode")),
        payer_type,
        payer,
        payee_type,
        payee,
        _text(item.get("amount")),
        _text(item.get("currency")),
        _text(item.get("descriptionText")),
        "",
        "",
        "",
        "",
        "",
    ]
    return ",".join(values)


def _party(value: Any) -> tuple[str, str]:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return _text(value[0].get("key")), _text(value[0].get("value"))
    return "", ""


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
