"""The reconciliation report of a cycle, read back: CSV rows; the XLSX summary (people and
money by outcome, attempts apart, reasons, batches) and detail sheet (frozen header, filter,
amount and date formats); text neutralised; an empty cycle's clear empty report; an unknown
format refused; the file whole or not at all; the report audited."""

from __future__ import annotations

import csv
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditAction, AuditEvent
from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.exports import cycle_report as report
from g2p_payment_phee.exports.cycle_report import COLUMNS, cycle_report
from g2p_payment_phee.exports.formats import ExportFormat
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.payments.reconciliation_world import (
    FORMULA_NAME,
    PAID_AT,
    every_outcome_cycle,
    paid_program,
    phee_settings,
)

TITLES = [column.title for column in COLUMNS]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A folder for the reports alone (the SQLite database sits in ``tmp_path``)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def cycle(session: Session, admin: User, approver: User) -> Cycle:
    return every_outcome_cycle(session, admin, approver)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _lines(sheet: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


def _block(lines: list[tuple[Any, ...]], title: str) -> list[tuple[Any, ...]]:
    """The lines after the one whose first cell is ``title``, up to the next empty line."""
    start = next(i for i, line in enumerate(lines) if line[0] == title) + 1
    block = []
    for line in lines[start:]:
        if line[0] is None:
            break
        block.append(line)
    return block


def test_csv_has_one_row_per_beneficiary_with_a_header(
    session: Session, admin: User, cycle: Cycle, out: Path
) -> None:
    result = cycle_report(session, admin, cycle, "csv", out / "report.csv")
    assert (result.rows, result.fmt) == (9, ExportFormat.CSV)
    rows = _csv(out / "report.csv")
    assert list(rows[0]) == TITLES
    by_reference = {row["registrant reference"]: row for row in rows}
    paid = by_reference["B000001"]
    assert paid["registrant name"] == "'" + FORMULA_NAME  # shown as text, never run
    assert (paid["amount approved"], paid["amount paid"], paid["outcome"]) == (
        "100.00",
        "100.00",
        "paid",
    )
    assert paid["paid at (UTC)"] == PAID_AT.isoformat()
    # the payee as sent, neutralised: it starts with "+"
    assert (paid["payee identifier"], paid["PHEE transaction id"]) == ("'+254700000001", "T-1-0")
    failed = by_reference["B000003"]
    assert (failed["outcome"], failed["attempts"], failed["last failure reason"]) == (
        "failed",
        "2",
        "Closed (5)",
    )
    assert (failed["amount paid"], failed["paid at (UTC)"]) == ("", "")
    assert by_reference["B000000"]["last failure reason"] == "no enabled phone number"
    assert stat.S_IMODE((out / "report.csv").stat().st_mode) == 0o600
    assert [p.name for p in out.iterdir()] == ["report.csv"]


def test_xlsx_detail_sheet_has_frozen_header_filter_and_formats(
    session: Session, admin: User, cycle: Cycle, out: Path
) -> None:
    assert cycle_report(session, admin, cycle, "xlsx", out / "report.xlsx").rows == 9
    book = openpyxl.load_workbook(out / "report.xlsx")
    assert book.sheetnames == ["Summary", "Payments"]
    sheet = book["Payments"]
    assert [cell.value for cell in sheet[1]] == TITLES
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:N10"
    assert sheet.max_row == 10
    lines = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    paid = lines["B000001"]
    # exact, and text: a string with the quote-prefix style, never a formula
    assert (paid[1].value, paid[1].data_type, paid[1].quotePrefix) == (FORMULA_NAME, "s", True)
    assert (paid[4].value, paid[4].quotePrefix) == ("+254700000001", True)
    assert not paid[0].quotePrefix
    assert (paid[5].value, paid[5].number_format) == (100, "#,##0.00")
    assert (paid[7].value, paid[7].number_format) == (100, "#,##0.00")
    assert paid[8].is_date
    assert paid[8].value == datetime(2027, 1, 15, 9, 30)  # UTC, as the header says
    assert (paid[9].value, paid[12].value) == (1, 1)
    failed = lines["B000003"]
    assert (failed[6].value, failed[12].value, failed[13].value) == ("failed", 2, "Closed (5)")
    assert failed[7].value is None


def test_xlsx_summary_gives_people_and_money_by_outcome(
    session: Session, admin: User, cycle: Cycle, out: Path
) -> None:
    cycle_report(session, admin, cycle, "xlsx", out / "report.xlsx")
    lines = _lines(openpyxl.load_workbook(out / "report.xlsx")["Summary"])
    assert lines[0][0] == "Reconciliation report of cycle 2027-01"
    people = {line[0]: line[1:3] for line in _block(lines, "Beneficiaries by outcome")}
    assert people == {
        "paid": (2, 200),
        "failed": (1, 100),
        "pending at the hub": (1, 100),
        "not sent yet": (1, 100),
        "not payable": (1, 100),
        "cancelled": (2, 200),
        "rejected": (1, 100),
        "approved": (8, 800),
        "amount paid": (None, 200),
    }
    attempts = _block(lines, "Payment attempts (a beneficiary may have several)")
    assert [line[1] for line in attempts] == [7, 3]  # 7 payments made, 3 failed
    reasons = _block(lines, "Top reasons not paid (failed or not payable)")
    assert {line[0]: line[1] for line in reasons} == {
        "Closed (5)": 1,
        "no enabled phone number": 1,
    }
    batches = _block(lines, "Batches")
    assert batches[0][:4] == ("batch", "state", "PHEE batch id", "payments")
    assert [line[0] for line in batches[1:]] == [1, 2, 3, 4, 5]
    first = batches[1]
    assert (first[1], first[3], first[5], first[7]) == ("completed", 2, 1, 1)
    assert [line[1] for line in batches[1:]][2:4] == ["cancelled", "prepared"]


def test_summary_text_that_looks_like_a_formula_stays_text(
    session: Session, admin: User, cycle: Cycle, out: Path
) -> None:
    cycle.program.name = "=1+1"
    cycle_report(session, admin, cycle, "xlsx", out / "report.xlsx")
    program = openpyxl.load_workbook(out / "report.xlsx")["Summary"]["B2"]
    assert (program.value, program.data_type, program.quotePrefix) == ("=1+1", "s", True)


def test_an_empty_cycle_gives_a_clear_empty_report(
    session: Session, admin: User, out: Path
) -> None:
    cycle = factories.pending_cycle(session, admin, beneficiaries=2)
    assert cycle_report(session, admin, cycle, "csv", out / "empty.csv").rows == 0
    assert (out / "empty.csv").read_text(encoding="utf-8").splitlines() == [",".join(TITLES)]
    assert cycle_report(session, admin, cycle, "xlsx", out / "empty.xlsx").rows == 0
    book = openpyxl.load_workbook(out / "empty.xlsx")
    assert _lines(book["Payments"]) == [tuple(TITLES)]
    summary = [line[0] for line in _lines(book["Summary"])]
    assert "No beneficiaries with an outcome: this report has no payments." in summary
    assert "2 entitlements pending_validation are not in this report (no outcome yet)" in summary


def test_an_unknown_format_is_refused_before_any_file(
    session: Session, admin: User, cycle: Cycle, out: Path
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        cycle_report(session, admin, cycle, "pdf", out / "report.pdf")
    assert refused.value.message == "unknown report format 'pdf': csv or xlsx"
    assert refused.value.errors[0].field == "format"
    assert list(out.iterdir()) == []


def test_an_error_while_writing_leaves_no_file_behind(
    session: Session, admin: User, cycle: Cycle, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (out / "report.xlsx").write_bytes(b"last month's report")

    def broken(*_args: object, **_kwargs: object) -> Any:
        yield from ()
        raise RuntimeError("the database went away")

    monkeypatch.setattr(report, "reconciliation_rows", broken)
    for fmt in ("xlsx", "csv"):
        with pytest.raises(RuntimeError):
            cycle_report(session, admin, cycle, fmt, out / f"report.{fmt}")
    # the earlier file is untouched, and no temporary file is left
    assert sorted(p.name for p in out.iterdir()) == ["report.xlsx"]
    assert (out / "report.xlsx").read_bytes() == b"last month's report"


def test_a_missing_folder_is_refused(
    session: Session, admin: User, cycle: Cycle, out: Path
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        cycle_report(session, admin, cycle, "csv", out / "nowhere" / "report.csv")
    assert refused.value.errors[0].field == "output"


def test_the_report_is_audited(session: Session, admin: User, cycle: Cycle, out: Path) -> None:
    cycle_report(session, admin, cycle, "xlsx", out / "report.xlsx")
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.EXPORT_WRITTEN)
    ).one()
    assert (event.subject_id, event.actor_name) == (cycle.id, admin.username)
    assert event.data == {"kind": "reconciliation", "format": "xlsx", "rows": 9}


def test_too_many_rows_for_xlsx_are_refused_up_front(
    session: Session, admin: User, cycle: Cycle, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "XLSX_MAX_ROWS", 8)
    with pytest.raises(ValidationFailed) as refused:
        cycle_report(session, admin, cycle, "xlsx", out / "report.xlsx")
    assert "write it as CSV" in refused.value.message
    assert list(out.iterdir()) == []
    assert cycle_report(session, admin, cycle, "csv", out / "report.csv").rows == 9


def test_amounts_follow_the_currency_minor_digits(
    session: Session, admin: User, approver: User, out: Path
) -> None:
    yen = paid_program(session, admin, "JPY")
    phee_settings(session, admin, yen)
    cycle = factories.approved_cycle(session, admin, approver, yen, beneficiaries=1)
    cycle_report(session, admin, cycle, "csv", out / "yen.csv")
    assert _csv(out / "yen.csv")[0]["amount approved"] == "100"
    cycle_report(session, admin, cycle, "xlsx", out / "yen.xlsx")
    cell = openpyxl.load_workbook(out / "yen.xlsx")["Payments"]["F2"]
    assert (cell.value, cell.number_format) == (100, "#,##0")
