"""Writing a table as CSV or XLSX a row at a time, in bounded memory, safe to open in a
spreadsheet.

Both formats take the same cells: text, whole numbers, ``Decimal`` amounts (already at their
currency's precision, which sets their decimals in XLSX), dates, UTC timestamps, booleans and
None (an empty cell). Numbers, dates and booleans are never text and are written as they are.

Formula injection (CSV injection): text that starts like a formula (:func:`looks_like_formula`:
``=``, ``+``, ``-``, ``@``, a tab or a carriage return), such as a name ``=HYPERLINK(...)``
typed into the registry or a phone ``+254...``, must stay text when the file is opened in Excel
or LibreOffice. In CSV it gets a leading apostrophe (:func:`neutralise`), which spreadsheets
hide; a program reading the file sees it and may strip it. In XLSX the cell is written as a
string with the "quote prefix" style, which is how a spreadsheet itself stores text typed with
a leading apostrophe: the value is exact, shown as typed, and stays text when edited.

XLSX is written by xlsxwriter in constant-memory mode: each row goes to disk as it comes, so a
million rows cost no more memory than ten. The sheet has its header row frozen and an
autofilter over every column; amounts, dates and timestamps are real numbers and dates with
their display formats.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, BinaryIO, Protocol

import xlsxwriter

from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _

Cell = str | int | Decimal | date | datetime | bool | None

# What a spreadsheet reads as the start of a formula (or of a cell's content being split):
# OWASP's list for CSV injection.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# An XLSX sheet's last row is 1,048,576; the first holds the header.
XLSX_MAX_ROWS = 1_048_575
_XLSX_MAX_TEXT = 32_767  # characters in one cell


class ExportFormat(StrEnum):
    """The file formats of an export."""

    CSV = "csv"
    XLSX = "xlsx"

    @property
    def media_type(self) -> str:
        """The file's content type (for downloads)."""
        if self is ExportFormat.CSV:
            return "text/csv; charset=utf-8"
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    """A column of an exported table: its header and its width in XLSX (in characters)."""

    title: str
    width: int = 14


def looks_like_formula(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula (or split its cell)."""
    return text.startswith(FORMULA_STARTS)


def neutralise(text: str) -> str:
    """CSV text: ``text`` with a ``'`` in front when it looks like a formula, unchanged
    otherwise (the empty string included)."""
    return "'" + text if looks_like_formula(text) else text


class TableWriter(Protocol):
    """Writes the rows of one table after its header; ``close`` finishes the file."""

    def write_row(self, cells: Sequence[Cell]) -> None: ...

    def close(self) -> None: ...


def write_table(
    handle: BinaryIO, fmt: ExportFormat, columns: Sequence[Column], rows: Iterable[Sequence[Cell]]
) -> int:
    """Write the header and every row to ``handle`` in ``fmt``; the number of rows written.

    Raises ValidationFailed (on ``format``) when the rows do not fit in an XLSX sheet."""
    writer: TableWriter = (
        CsvTableWriter(handle, columns)
        if fmt is ExportFormat.CSV
        else XlsxTableWriter(handle, columns)
    )
    count = 0
    for row in rows:
        writer.write_row(row)
        count += 1
    writer.close()
    return count


class CsvTableWriter:
    """UTF-8 CSV (no byte-order mark), comma-separated, quoted where needed, CRLF line ends
    (RFC 4180). Amounts as plain decimals (``1500.00``), dates as ``YYYY-MM-DD``, timestamps as
    ISO 8601 in UTC (``2027-01-31T09:30:00+00:00``), booleans as ``true``/``false``."""

    def __init__(self, handle: BinaryIO, columns: Sequence[Column]) -> None:
        self._text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text)
        self._csv.writerow([column.title for column in columns])

    def write_row(self, cells: Sequence[Cell]) -> None:
        self._csv.writerow([_csv_text(cell) for cell in cells])

    def close(self) -> None:
        self._text.flush()
        self._text.detach()  # the caller owns (and closes) the binary handle


def _csv_text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, datetime):
        return cell.isoformat(timespec="seconds")
    if isinstance(cell, Decimal):
        return f"{cell:f}"
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, int):
        return str(cell)
    return neutralise(str(cell))


class XlsxTableWriter:
    """One sheet, written row by row (xlsxwriter's constant-memory mode)."""

    def __init__(self, handle: BinaryIO, columns: Sequence[Column]) -> None:
        self._book = xlsxwriter.Workbook(
            handle,
            {
                "constant_memory": True,
                "remove_timezone": True,  # timestamps are UTC, as the headers say
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        self._sheet = self._book.add_worksheet("export")
        self._date = self._book.add_format({"num_format": "yyyy-mm-dd"})
        self._moment = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._quoted = self._book.add_format({"quote_prefix": True})
        self._amounts: dict[int, Any] = {}
        self._width = len(columns)
        header = self._book.add_format({"bold": True})
        for index, column in enumerate(columns):
            self._sheet.set_column(index, index, column.width)
            self._sheet.write_string(0, index, column.title, header)
        self._sheet.freeze_panes(1, 0)
        self._row = 0

    def write_row(self, cells: Sequence[Cell]) -> None:
        if self._row >= XLSX_MAX_ROWS:
            raise ValidationFailed(
                _(
                    "an XLSX sheet holds at most {XLSX_MAX_ROWS:,} rows: export as CSV, or "
                    "narrow the filters"
                ).format(XLSX_MAX_ROWS=XLSX_MAX_ROWS),
                [
                    FieldError(
                        "format",
                        _("xlsx holds at most {XLSX_MAX_ROWS:,} rows").format(
                            XLSX_MAX_ROWS=XLSX_MAX_ROWS
                        ),
                    )
                ],
            )
        self._row += 1
        for index, cell in enumerate(cells):
            self._write_cell(index, cell)

    def _write_cell(self, index: int, cell: Cell) -> None:
        row, sheet = self._row, self._sheet
        if cell is None:
            return
        if isinstance(cell, bool):
            sheet.write_boolean(row, index, cell)
        elif isinstance(cell, datetime):
            sheet.write_datetime(row, index, cell, self._moment)
        elif isinstance(cell, date):
            sheet.write_datetime(row, index, cell, self._date)
        elif isinstance(cell, Decimal):
            sheet.write_number(row, index, cell, self._amount_format(cell))
        elif isinstance(cell, int):
            sheet.write_number(row, index, cell)
        else:  # write_string: a string cell, never a formula, whatever the text
            text = str(cell)[:_XLSX_MAX_TEXT]
            sheet.write_string(row, index, text, self._quoted if looks_like_formula(text) else None)

    def _amount_format(self, amount: Decimal) -> Any:
        exponent = amount.as_tuple().exponent
        decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if decimals not in self._amounts:
            pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
            self._amounts[decimals] = self._book.add_format({"num_format": pattern})
        return self._amounts[decimals]

    def close(self) -> None:
        self._sheet.autofilter(0, 0, self._row, max(self._width - 1, 0))
        self._book.close()
