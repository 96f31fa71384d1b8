"""The table writers: formula injection neutralised in both formats (a leading apostrophe in
CSV, the quote-prefix style on a string cell in XLSX), numbers and dates kept as numbers and
dates, the XLSX sheet's frozen header and autofilter, and its row limit."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.exports import formats
from g2p_payment_phee.exports.formats import (
    Column,
    ExportFormat,
    XlsxTableWriter,
    neutralise,
    write_table,
)

COLUMNS = [Column("name"), Column("amount"), Column("born"), Column("at"), Column("n")]
WHEN = datetime(2027, 1, 31, 9, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_starting_like_a_formula_gets_an_apostrophe(start: str) -> None:
    assert neutralise(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"
    assert neutralise(start) == f"'{start}"


@pytest.mark.parametrize("text", ["", "Achieng Otieno", "a=b", "1+1", " =1", "'quoted", "B-1"])
def test_other_text_is_unchanged(text: str) -> None:
    assert neutralise(text) == text


def _csv(rows: list[list[formats.Cell]]) -> list[list[str]]:
    buffer = io.BytesIO()
    assert write_table(buffer, ExportFormat.CSV, COLUMNS, rows) == len(rows)
    return list(csv.reader(io.StringIO(buffer.getvalue().decode("utf-8"), newline="")))


def test_csv_neutralises_text_and_keeps_numbers_and_dates() -> None:
    rows = _csv(
        [
            ["=cmd|' /C calc'!A0", Decimal("-5.00"), date(1982, 3, 14), WHEN, -3],
            ["\tTabbed", Decimal("1500"), None, None, 0],
            ["", None, None, None, None],
        ]
    )
    assert rows[0] == ["name", "amount", "born", "at", "n"]
    assert rows[1] == [
        "'=cmd|' /C calc'!A0",
        "-5.00",
        "1982-03-14",
        "2027-01-31T09:30:05+00:00",
        "-3",
    ]
    assert rows[2] == ["'\tTabbed", "1500", "", "", "0"]
    assert rows[3] == ["", "", "", "", ""]


def test_csv_keeps_line_breaks_inside_a_quoted_cell() -> None:
    rows = _csv([["two\nlines", None, None, None, True]])
    assert rows[1] == ["two\nlines", "", "", "", "true"]


def _xlsx(rows: list[list[formats.Cell]]) -> openpyxl.Workbook:
    buffer = io.BytesIO()
    write_table(buffer, ExportFormat.XLSX, COLUMNS, rows)
    buffer.seek(0)
    return openpyxl.load_workbook(buffer)


def test_xlsx_has_typed_cells_a_frozen_header_and_an_autofilter() -> None:
    book = _xlsx(
        [
            ["=1+1", Decimal("1500.00"), date(1982, 3, 14), WHEN, 7],
            ["@SUM(A1:A2)", Decimal("-12.5"), None, None, None],
        ]
    )
    sheet = book.active
    assert [cell.value for cell in sheet[1]] == ["name", "amount", "born", "at", "n"]
    assert sheet["A1"].font.bold
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:E3"
    name, amount, born, at, number = sheet[2]
    assert name.value == "=1+1"  # exact, as a string cell shown as typed
    assert name.data_type == "s"  # text, never a formula
    assert name.quotePrefix  # and it stays text when someone edits it
    assert amount.value == 1500
    assert amount.number_format == "#,##0.00"
    assert born.value == datetime(1982, 3, 14)
    assert born.number_format == "yyyy-mm-dd"
    assert at.value == datetime(2027, 1, 31, 9, 30, 5)  # UTC, as the header says
    assert number.value == 7
    assert sheet["A3"].value == "@SUM(A1:A2)"
    assert sheet["A3"].quotePrefix
    assert sheet["B3"].value == -12.5  # a number: not text, so not touched
    assert sheet["B3"].number_format == "#,##0.0"
    assert sheet["C3"].value is None


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_xlsx_marks_text_starting_like_a_formula(start: str) -> None:
    sheet = _xlsx(
        [[f"{start}1+1", None, None, None, None], ["plain", None, None, None, None]]
    ).active
    assert sheet["A2"].data_type == "s"
    assert sheet["A2"].quotePrefix
    assert not sheet["A3"].quotePrefix
    assert not sheet["A1"].quotePrefix


def test_an_empty_xlsx_has_its_header() -> None:
    sheet = _xlsx([]).active
    assert sheet.max_row == 1
    assert [cell.value for cell in sheet[1]] == ["name", "amount", "born", "at", "n"]


def test_xlsx_refuses_more_rows_than_a_sheet_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "XLSX_MAX_ROWS", 2)
    writer = XlsxTableWriter(io.BytesIO(), COLUMNS)
    writer.write_row(["a", None, None, None, 1])
    writer.write_row(["b", None, None, None, 2])
    with pytest.raises(ValidationFailed, match="at most 2 rows") as refused:
        writer.write_row(["c", None, None, None, 3])
    assert refused.value.errors[0].field == "format"
