"""The reconciliation report of a cycle: one row per beneficiary, as CSV or XLSX.

CSV holds the rows only, after a header. XLSX has two sheets: "Summary" (people and money by
outcome, the payment attempts apart, the top failure reasons, the batches) and "Payments" (the
rows, its header frozen, an autofilter, amounts with the currency's decimals, times as dates).
Both are written a row at a time, in bounded memory (xlsxwriter's constant-memory mode, in
which a sheet's rows go to disk in order: the summary is complete before the first row).
Text that starts like a formula stays text, as in every export (``exports.formats``): an
apostrophe in front in CSV, the quote-prefix style in XLSX.

The file is written under a temporary name in the target's folder (0600) and renamed onto the
target once complete: an error leaves neither a half-written file nor the temporary one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import xlsxwriter
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.exports.formats import (
    XLSX_MAX_ROWS,
    Cell,
    Column,
    CsvTableWriter,
    ExportFormat,
    looks_like_formula,
)
from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import minor_digits
from g2p_payment_phee.payments.outcomes import Outcome
from g2p_payment_phee.payments.reconciliation import (
    ReconciliationRow,
    ReconciliationSummary,
    reconciliation_rows,
    reconciliation_summary,
)
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

COLUMNS = (
    Column("registrant reference", 16),
    Column("registrant name", 28),
    Column("entitlement", 16),
    Column("payee identifier type", 12),
    Column("payee identifier", 24),
    Column("amount approved", 14),
    Column("outcome", 12),
    Column("amount paid", 14),
    Column("paid at (UTC)", 20),
    Column("batch", 8),
    Column("PHEE batch id", 38),
    Column("PHEE transaction id", 38),
    Column("attempts", 9),
    Column("last failure reason", 40),
)
_TEXT_COLUMNS = (0, 1, 2, 3, 4, 10, 11, 13)
_XLSX_MAX_TEXT = 32_767  # characters in one cell


@dataclass(frozen=True)
class CycleReport:
    """What was written: where, how many rows (the header not counted), in which format, and
    the summary it holds."""

    path: Path
    rows: int
    fmt: ExportFormat
    summary: ReconciliationSummary


def report_format(text: ExportFormat | str) -> ExportFormat:
    """``csv`` or ``xlsx`` (any case), or ValidationFailed naming the format."""
    try:
        return ExportFormat(str(text).strip().lower())
    except ValueError:
        raise ValidationFailed(
            _("unknown report format {text!r}: csv or xlsx").format(text=str(text)[:20]),
            [FieldError("format", _("csv or xlsx"))],
        ) from None


def cycle_report(
    session: Session, actor: User, cycle: Cycle, fmt: ExportFormat | str, target: Path
) -> CycleReport:
    """Write the cycle's reconciliation report to ``target`` as ``fmt``, replacing any file.

    Every role may read it (VIEW): it shows what the cycle's pages show. It names people and
    their payee identifiers, so it is audited (``export.written``, kind ``reconciliation``)
    with the caller's transaction. A cycle with nobody to report gives the header only (and,
    in XLSX, a summary saying so)."""
    authorize(actor, Permission.VIEW)
    chosen = report_format(fmt)
    if not target.parent.is_dir():
        raise ValidationFailed(
            _("cannot write {target}: its folder does not exist").format(target=target),
            [FieldError("output", _("no folder {parent}").format(parent=target.parent))],
        )
    summary = reconciliation_summary(session, actor, cycle)
    if chosen is ExportFormat.XLSX and summary.rows > XLSX_MAX_ROWS:
        raise ValidationFailed(
            _(
                "the report has {rows:,} rows and an XLSX sheet holds at most "
                "{XLSX_MAX_ROWS:,}: write it as CSV"
            ).format(rows=summary.rows, XLSX_MAX_ROWS=XLSX_MAX_ROWS),
            [FieldError("format", _("csv for more than 1,048,575 rows"))],
        )
    rows = reconciliation_rows(session, actor, cycle)
    written = _write_then_rename(
        target, lambda handle: _write(handle, chosen, cycle, summary, rows)
    )
    audit.record(
        session,
        actor,
        AuditAction.EXPORT_WRITTEN,
        cycle,
        {"kind": "reconciliation", "format": chosen, "rows": written},
    )
    return CycleReport(target, written, chosen, summary)


def _write_then_rename(target: Path, write: Callable[[BinaryIO], int]) -> int:
    # mkstemp creates the file 0600 in the target's folder, so the rename is atomic
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            written = write(handle)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return written


def _write(
    handle: BinaryIO,
    fmt: ExportFormat,
    cycle: Cycle,
    summary: ReconciliationSummary,
    rows: Iterable[ReconciliationRow],
) -> int:
    quantum = Decimal(1).scaleb(-minor_digits(summary.outcomes.currency))
    if fmt is ExportFormat.CSV:
        csv = CsvTableWriter(handle, COLUMNS)
        count = 0
        for row in rows:
            csv.write_row(_cells(row, quantum))
            count += 1
        csv.close()
        return count
    book = _Workbook(handle, summary.outcomes.currency)
    book.write_summary(cycle, summary)
    count = book.write_rows(rows, quantum)
    book.close()
    return count


def _cells(row: ReconciliationRow, quantum: Decimal) -> list[Cell]:
    cells: list[Cell] = list(row)
    cells[5] = row.amount_approved.quantize(quantum)
    cells[6] = row.outcome.value
    cells[7] = None if row.amount_paid is None else row.amount_paid.quantize(quantum)
    return cells


class _Workbook:
    """The XLSX report: the summary sheet, then the payments sheet row by row."""

    def __init__(self, handle: BinaryIO, currency: str) -> None:
        self.book = xlsxwriter.Workbook(
            handle,
            {
                "constant_memory": True,
                "remove_timezone": True,  # times are UTC, as the headers say
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        digits = minor_digits(currency)
        self.amount = self.book.add_format(
            {"num_format": "#,##0" + ("." + "0" * digits if digits else "")}
        )
        self.moment = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        self.bold = self.book.add_format({"bold": True})
        self.quoted = self.book.add_format({"quote_prefix": True})
        self.summary = self.book.add_worksheet("Summary")
        self.payments = self.book.add_worksheet("Payments")

    def text(self, sheet: Any, row: int, col: int, value: str, style: Any = None) -> None:
        """Text, written as a string; quote-prefixed when it starts like a formula."""
        value = value[:_XLSX_MAX_TEXT]
        sheet.write_string(row, col, value, self.quoted if looks_like_formula(value) else style)

    def write_summary(self, cycle: Cycle, summary: ReconciliationSummary) -> None:
        """The summary sheet, top to bottom (constant-memory mode writes rows in order)."""
        _SummarySheet(self, cycle, summary).write()

    def write_rows(self, rows: Iterable[ReconciliationRow], quantum: Decimal) -> int:
        sheet, amount, moment = self.payments, self.amount, self.moment
        for col, column in enumerate(COLUMNS):
            sheet.set_column(col, col, column.width)
            self.text(sheet, 0, col, column.title, self.bold)
        sheet.freeze_panes(1, 0)
        number, string, quoted = sheet.write_number, sheet.write_string, self.quoted
        line = 0
        for row in rows:
            if line >= XLSX_MAX_ROWS:  # more rows than the summary counted (written meanwhile)
                raise ValidationFailed(
                    _(
                        "an XLSX sheet holds at most {XLSX_MAX_ROWS:,} rows: write the report "
                        "as CSV"
                    ).format(XLSX_MAX_ROWS=XLSX_MAX_ROWS),
                    [FieldError("format", "csv")],
                )
            line += 1
            texts = (
                row.reference, row.name, row.entitlement, row.payee_id_type, row.payee_id_value,
                row.phee_batch_id, row.phee_transaction_id, row.reason,
            )  # fmt: skip
            for col, text in zip(_TEXT_COLUMNS, texts, strict=True):
                if text is not None:
                    text = text[:_XLSX_MAX_TEXT]
                    string(line, col, text, quoted if looks_like_formula(text) else None)
            number(line, 5, row.amount_approved.quantize(quantum), amount)
            string(line, 6, row.outcome.value)
            if row.amount_paid is not None:
                number(line, 7, row.amount_paid.quantize(quantum), amount)
            if row.paid_at is not None:
                sheet.write_datetime(line, 8, row.paid_at, moment)
            if row.batch_sequence is not None:
                number(line, 9, row.batch_sequence)
            number(line, 12, row.attempts)
        sheet.autofilter(0, 0, line, len(COLUMNS) - 1)
        return line

    def close(self) -> None:
        self.book.close()


class _SummarySheet:
    """People and money by outcome, attempts, failure reasons and batches, one block each."""

    def __init__(self, book: _Workbook, cycle: Cycle, summary: ReconciliationSummary) -> None:
        self.book, self.cycle, self.summary = book, cycle, summary
        self.sheet = book.summary
        self.line = 0

    def put(self, *cells: str | int | Decimal | None, bold: bool = False) -> None:
        """One line of the sheet: text, whole numbers, amounts (with the amount format)."""
        style = self.book.bold if bold else None
        for col, value in enumerate(cells):
            if isinstance(value, str):
                self.book.text(self.sheet, self.line, col, value, style)
            elif isinstance(value, Decimal):
                self.sheet.write_number(self.line, col, value, self.book.amount)
            elif isinstance(value, int):
                self.sheet.write_number(self.line, col, value, style)
        self.line += 1

    def write(self) -> None:
        self.sheet.set_column(0, 0, 44)
        self.sheet.set_column(1, 8, 16)
        self.header()
        self.people()
        self.attempts()
        self.reasons()
        self.batches()

    def header(self) -> None:
        cycle, outcomes = self.cycle, self.summary.outcomes
        self.put(_("Reconciliation report of cycle {name}").format(name=cycle.name), bold=True)
        self.put("program", cycle.program.name)
        self.put(_("cycle state"), str(cycle.state))
        self.put("currency", outcomes.currency)
        self.book.text(self.sheet, self.line, 0, "written at (UTC)")
        self.sheet.write_datetime(self.line, 1, utcnow(), self.book.moment)
        self.line += 1
        if not self.summary.rows:
            self.put(_("No beneficiaries with an outcome: this report has no payments."), bold=True)
        elif not outcomes.attempts:
            self.put(_("No payments have been made for this cycle yet."), bold=True)
        for state, count in sorted(self.summary.left_out.items()):
            self.put(
                _("{count} entitlements {state} are not in this report (no outcome yet)").format(
                    count=count, state=state
                )
            )
        self.line += 1

    def people(self) -> None:
        outcomes = self.summary.outcomes
        self.put(_("Beneficiaries by outcome"), _("people"), _("amount approved"), bold=True)
        for outcome in Outcome:
            people = outcomes.people.get(outcome)
            count, amount = (people.count, people.amount) if people else (0, Decimal(0))
            self.put(outcome.label, count, amount)
        self.put("approved", outcomes.approved.count, outcomes.approved.amount)
        self.put(_("amount paid"), None, outcomes.amount_paid)
        self.line += 1

    def attempts(self) -> None:
        outcomes = self.summary.outcomes
        self.put(_("Payment attempts (a beneficiary may have several)"), _("attempts"), bold=True)
        self.put(_("payments made (cancelled ones not counted)"), outcomes.attempts)
        self.put(_("of which failed"), outcomes.failed_attempts)
        self.line += 1

    def reasons(self) -> None:
        self.put(_("Top reasons not paid (failed or not payable)"), _("people"), bold=True)
        for reason, count in self.summary.outcomes.reasons:
            self.put(reason, count)
        if not self.summary.outcomes.reasons:
            self.put("none")
        self.line += 1

    def batches(self) -> None:
        self.put("Batches", bold=True)
        titles = ("batch", "state", "PHEE batch id", "payments", "amount")
        self.put(*titles, "paid", "amount paid", "failed", "amount failed", bold=True)
        for b in self.summary.batches:
            self.put(
                b.sequence, str(b.state), b.phee_batch_id, b.payments, b.amount,
                b.paid, b.paid_amount, b.failed, b.failed_amount,
            )  # fmt: skip
        if not self.summary.batches:
            self.put("none")
