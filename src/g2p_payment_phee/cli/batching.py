"""``g2p-phee batches create`` and ``g2p-phee payments cancel``: payments not sent yet."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.table import Table

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.cli.payments import ProgramOpt, cycle_named
from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import display
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.batching import MAX_BATCH_SIZE, BatchingReport
from g2p_payment_phee.payments.cancel import CancelReport, cancel_payments

payments_app = typer.Typer(help="Payments not sent yet.", no_args_is_help=True)
LISTED = 20


def create(
    ctx: typer.Context,
    cycle: str,
    program: ProgramOpt = None,
    max_size: Annotated[
        int | None,
        typer.Option(
            "--max-size",
            min=1,
            max=MAX_BATCH_SIZE,
            help="Payments per batch (default: the manager's Max Batch Size)",
        ),
    ] = None,
) -> None:
    """Put the cycle's payments issued without a batch (Automatically Create Batch off) into
    new batches, with the manager's file format and size limits."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = cycle_named(session, cycle, program)
        report = service.add_to_batches(session, cli.actor(session), found, max_size=max_size)
    print_batching(report)


def print_batching(report: BatchingReport) -> None:
    """Payments batched, batches made, amounts."""
    table = Table(
        _("cycle {cycle}: payments added to batches").format(cycle=report.cycle), _("value")
    )
    table.add_row(_("payments batched"), str(report.batched))
    table.add_row(_("batches made"), str(len(report.batches)))
    table.add_row(_("file bytes"), f"{report.file_bytes:,}")
    for currency, amount in report.amounts.items():
        table.add_row(_("amount {currency}").format(currency=currency), display(amount, currency))
    console.print(table)
    for name in report.batches[:LISTED]:
        console.print(_("  batch {name}").format(name=name))
    if len(report.batches) > LISTED:
        console.print(_("  … and {count} more").format(count=len(report.batches) - LISTED))


@payments_app.command("cancel")
def cancel(
    ctx: typer.Context,
    cycle: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log)")],
    program: ProgramOpt = None,
    batch: Annotated[str | None, typer.Option("--batch", help="Only this batch")] = None,
    payment: Annotated[str | None, typer.Option("--payment", help="Only this payment")] = None,
) -> None:
    """Cancel issued payments that cannot have reached the hub: the cycle's (default), one
    batch's or one payment's. Their entitlements become payable again (prepare pays them)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = cycle_named(session, cycle, program)
        actor = cli.actor(session)
        chosen = service.get_batch(session, actor, batch) if batch else None
        report = cancel_payments(
            session,
            actor,
            found,
            reason=reason,
            batch=chosen,
            payment_id=_payment_id(payment),
        )
    print_cancel(report)


def _payment_id(text: str | None) -> uuid.UUID | None:
    if text is None:
        return None
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise ValidationFailed(
            _("{text!r} is not a payment id").format(text=text),
            [FieldError("payment", _("a payment's UUID"))],
        ) from None


def print_cancel(report: CancelReport) -> None:
    """Payments cancelled, batches dropped or shrunk, and batches left alone with the reason."""
    amounts = ", ".join(display(a, c) for c, a in report.amounts.items()) or _("nothing")
    console.print(
        _("cancelled {cancelled} payments ({amounts}) of {cycle}").format(
            cancelled=report.cancelled, amounts=amounts, cycle=report.cycle
        )
    )
    for name in report.batches[:LISTED]:
        console.print(_("  batch {name} cancelled").format(name=name))
    if len(report.batches) > LISTED:
        console.print(
            _("  … and {count} more batches cancelled").format(count=len(report.batches) - LISTED)
        )
    for name in report.shrunk:
        console.print(
            _("  batch {name}: one payment fewer (its file is made again)").format(name=name)
        )
    for name, why in report.refused:
        console.print(_("  batch {name} left alone: {why}").format(name=name, why=why))
    console.print(_("their entitlements are payable again: `g2p-phee prepare` pays them"))
