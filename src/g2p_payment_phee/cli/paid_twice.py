"""Payments the hub paid more than once, as ``status`` and ``sync`` show them (SPEC 2.3): a red
block nobody can scroll past, and exit code 12 until an approver acknowledges them."""

from __future__ import annotations

import shlex

from rich.markup import escape
from rich.table import Table

from g2p_payment_phee.cli.context import console
from g2p_payment_phee.errors import PaidTwiceFound
from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import display
from g2p_payment_phee.payments.duplicates import PaidTwice
from g2p_payment_phee.payments.models import DuplicatePayment
from g2p_payment_phee.programs.models import Cycle


def acknowledge_command(cycle: Cycle) -> str:
    """The command an approver runs for this cycle."""
    names = shlex.join([cycle.name, "--program", cycle.program.name])
    return f"g2p-phee --as APPROVER cycles acknowledge-paid-twice {names} --reason TEXT"


def print_paid_twice(cycle: Cycle, report: PaidTwice) -> None:
    """The red block: the sentence, the payments with their PHEE ids, the batches the hub holds
    more than once. Nothing when the hub's records show no duplicate."""
    if not report.found:
        return
    where = _("cycle {name} of {program}").format(name=cycle.name, program=cycle.program.name)
    console.print(f"[bold red]{escape(where)}: {escape(report.describe())}[/bold red]")
    if report.records:
        console.print(_records_table(report))
    if report.batches_duplicated:
        batches = Table(
            _("batch"),
            _("other PHEE batch ids under its correlation id"),
            title=_("[red]batches PHEE holds more than once[/red]"),
            border_style="red",
        )
        for name, others in report.batches_duplicated:
            batches.add_row(name, ", ".join(others))
        console.print(batches)
    if report.unacknowledged:
        console.print(
            _(
                "[red]an approver acknowledges them, saying how they are handled: "
                "{acknowledge_command}[/red]"
            ).format(acknowledge_command=escape(acknowledge_command(cycle))),
            soft_wrap=True,
        )


def _records_table(report: PaidTwice) -> Table:
    table = Table(
        _("payment (request_id)"),
        _("times paid"),
        _("amount paid"),
        _("PHEE batch ids"),
        _("transaction ids"),
        _("acknowledged"),
        title=_("[bold red]payments paid more than once[/bold red]"),
        border_style="red",
    )
    for column in table.columns:
        column.overflow = "fold"
    for record in report.records:
        table.add_row(
            str(record.payment_id),
            str(record.times_paid),
            display(record.amount_paid, record.currency),
            "\n".join(str(o.get("phee_batch_id") or "-") for o in record.occurrences),
            "\n".join(str(o.get("transaction_id") or "-") for o in record.occurrences),
            _acknowledged(record),
        )
    if report.payments > len(report.records):
        table.caption = _("the first {count} of {payments} payments").format(
            count=len(report.records), payments=report.payments
        )
    return table


def _acknowledged(record: DuplicatePayment) -> str:
    if record.acknowledged_at is None:
        return _("[bold red]NO[/bold red]")
    return escape(
        _("yes, {acknowledged_at:%Y-%m-%d %H:%M}: {acknowledged_reason}").format(
            acknowledged_at=record.acknowledged_at, acknowledged_reason=record.acknowledged_reason
        )
    )


def paid_twice_error(
    found: list[tuple[Cycle, PaidTwice]], *, also: str = ""
) -> PaidTwiceFound | None:
    """The error to exit with (code 12) when some payments paid twice wait for an approver;
    ``also`` names a lesser problem the same command found."""
    pending = [(cycle, report.unacknowledged) for cycle, report in found if report.unacknowledged]
    if not pending:
        return None
    total = sum(count for _, count in pending)
    where = ", ".join(
        _("cycle {name} of {program}: {count}").format(
            name=cycle.name, program=cycle.program.name, count=n
        )
        for cycle, n in pending
    )
    command = acknowledge_command(pending[0][0]) if len(pending) == 1 else _("(above)")
    return PaidTwiceFound(
        _(
            "{total} payments PHEE paid more than once are not acknowledged "
            "({where}); an approver acknowledges them, saying how they are "
            "handled: {command}"
        ).format(total=total, where=where, command=command)
        + (_(". Also: {also}").format(also=also) if also else "")
    )
