"""``g2p-phee prepare|retry-failed|batches|reconcile-import|status``: payments of a cycle."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.cli.imports import print_report
from g2p_payment_phee.cli.paid_twice import paid_twice_error, print_paid_twice
from g2p_payment_phee.errors import HubIncomplete, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import display
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.batching import waiting_count
from g2p_payment_phee.payments.default_manager import import_results
from g2p_payment_phee.payments.duplicates import PaidTwice, paid_twice
from g2p_payment_phee.payments.models import DuplicatePayment, PaymentBatch
from g2p_payment_phee.payments.outcomes import CycleOutcomes, Outcome, cycle_outcomes
from g2p_payment_phee.payments.overdue import OverdueReport, overdue_payments
from g2p_payment_phee.payments.overview import cycle_payment_totals
from g2p_payment_phee.payments.prepare import PreparationReport, payable_count
from g2p_payment_phee.payments.reports import TROUBLE, SendOutcome, SendReport
from g2p_payment_phee.payments.resend import BatchWait, waiting_batches
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.security import write_private_file

batches_app = typer.Typer(help="Payment batches and their files.", no_args_is_help=True)
ProgramOpt = Annotated[str | None, typer.Option("--program", "-p", help="Program of the cycle")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Report only; write nothing")]


def cycle_named(session: Session, cycle: str, program: str | None) -> Cycle:
    """The cycle a command names (by name or id; ``program`` when names repeat)."""
    found = programs.get_program(session, program) if program else None
    return programs.get_cycle(session, cycle, found)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def prepare(
    ctx: typer.Context, cycle: str, program: ProgramOpt = None, dry_run: DryRun = False
) -> None:
    """Create payments, batches and batch files for an approved cycle (dry run: report only)."""
    _prepare(ctx, cycle, program, dry_run, retry=False)


def retry_failed(
    ctx: typer.Context, cycle: str, program: ProgramOpt = None, dry_run: DryRun = False
) -> None:
    """New payments in new batches for entitlements whose payments all failed."""
    _prepare(ctx, cycle, program, dry_run, retry=True)


def _prepare(
    ctx: typer.Context, cycle: str, program: str | None, dry_run: bool, *, retry: bool
) -> None:
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = cycle_named(session, cycle, program)
        actor = cli.actor(session)
        with _progress() as bar:
            task = bar.add_task(
                _("preparing") if not retry else _("retrying"), total=payable_count(session, found)
            )
            run = service.retry_failed if retry else service.prepare_cycle
            report = run(
                session,
                actor,
                found,
                dry_run=dry_run,
                progress=lambda n: bar.update(task, completed=n),
            )
    print_preparation(report)


def print_people(outcomes: CycleOutcomes) -> None:
    """Beneficiaries by outcome (each counted once, whatever the attempts), with amounts."""
    currency = outcomes.currency
    table = Table(_("beneficiaries"), _("people"), _("amount"))
    approved = outcomes.approved
    table.add_row(_("approved"), str(approved.count), display(approved.amount, currency))
    for outcome in Outcome:
        people = outcomes.people.get(outcome)
        if people is None and outcome not in (Outcome.PAID, Outcome.FAILED):
            continue
        count, amount = (people.count, people.amount) if people else (0, Decimal(0))
        table.add_row(outcome.label, str(count), display(amount, currency))
    console.print(table)
    if outcomes.reasons:
        reasons = "; ".join(f"{reason} ({count})" for reason, count in outcomes.reasons)
        console.print(_("why not paid: {reasons}").format(reasons=reasons))


def print_preparation(report: PreparationReport, *, limit: int = 20) -> None:
    """The preparation report: totals, batches, and the skipped entitlements with reasons."""
    mode = _(" (dry run: nothing written)") if report.dry_run else ""
    table = Table(
        _("preparation of {cycle}{mode}").format(cycle=report.cycle, mode=mode), _("value")
    )
    table.add_row(
        _("payments created") if not report.dry_run else _("payments to create"),
        str(report.created),
    )
    table.add_row(_("batches"), str(report.batches))
    table.add_row(_("file bytes"), f"{report.file_bytes:,}")
    table.add_row(_("already with a live payment"), str(report.already_paid))
    table.add_row(_("skipped (no valid payee / amount)"), str(report.skipped_count))
    for currency, total in report.totals.items():
        table.add_row(
            _("amount {currency}").format(currency=currency), display(total.amount, currency)
        )
        table.add_row(_("fees {currency}").format(currency=currency), display(total.fees, currency))
    console.print(table)
    if report.message:
        console.print(report.message)
    if report.skipped:
        skipped = Table(
            _("entitlement"), _("registrant"), _("reason"), title=_("skipped entitlements")
        )
        for item in report.skipped[:limit]:
            skipped.add_row(item.code, item.reference, item.reason)
        console.print(skipped)
        if report.skipped_count > limit:
            console.print(_("… and {count} more").format(count=report.skipped_count - limit))


@batches_app.command("list")
def list_batches(
    ctx: typer.Context,
    cycle: str,
    program: ProgramOpt = None,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """A cycle's batches with state, counts and amounts."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = cycle_named(session, cycle, program)
        table = Table(
            "#",
            _("batch"),
            _("state"),
            _("payments"),
            _("amount"),
            _("paid"),
            _("failed"),
            _("PHEE id"),
            _("file"),
        )
        for b in service.list_batches(
            session, cli.actor(session), found, offset=offset, limit=limit
        ):
            table.add_row(
                str(b.sequence),
                b.name,
                b.state,
                str(b.issued_count),
                display(b.issued_amount, b.currency),
                str(b.paid_count),
                str(b.failed_count),
                b.phee_batch_id or "-",
                f"{b.csv_size or 0:,} B",
            )
        console.print(table)


@batches_app.command("show")
def show_batch(ctx: typer.Context, batch: str) -> None:
    """One batch: state, counters, PHEE ids, last error."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        b = service.get_batch(session, cli.actor(session), batch)
        table = Table(_("batch {name}").format(name=b.name), _("value"))
        for label, value in (
            (_("cycle"), b.cycle.name),
            (_("sequence"), b.sequence),
            (_("state"), b.state),
            (_("correlation id"), b.correlation_id),
            (_("PHEE batch id"), b.phee_batch_id or "-"),
            (
                _("file"),
                _("{file_name} ({size:,} bytes, sha256 {sha256})").format(
                    file_name=b.file_name, size=b.csv_size or 0, sha256=b.csv_sha256 or _("at send")
                ),
            ),
            (_("issued"), f"{b.issued_count} / {display(b.issued_amount, b.currency)}"),
            (_("sent"), f"{b.sent_count} / {display(b.sent_amount, b.currency)}"),
            (_("paid"), f"{b.paid_count} / {display(b.paid_amount, b.currency)}"),
            (_("failed"), f"{b.failed_count} / {display(b.failed_amount, b.currency)}"),
            (_("send attempts"), b.send_attempts),
            (_("last error"), b.last_error or "-"),
        ):
            table.add_row(label, str(value))
        console.print(table)


@batches_app.command("export-csv")
def export_csv(
    ctx: typer.Context,
    batch: str,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: its name)")
    ] = None,
) -> None:
    """Write a batch's file, byte for byte as it is (or will be) sent, readable by you only."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        b = service.get_batch(session, cli.actor(session), batch)
        rendered = service.batch_file(session, cli.actor(session), b)
        target = output or Path(b.file_name)
        write_private_file(target, rendered.data)  # payees' identifiers: owner-only (0600)
        console.print(
            _("wrote {target} ({count:,} bytes, sha256 {sha256})").format(
                target=target, count=len(rendered.data), sha256=rendered.sha256
            )
        )


def reconcile_import(
    ctx: typer.Context,
    program: str,
    file: Annotated[Path, typer.Argument(help="CSV/JSON: request_id,status,amount_paid,reason")],
    dry_run: DryRun = False,
) -> None:
    """Reconcile payments of a default-manager program from a results file."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = programs.get_program(session, program)
        report = import_results(session, cli.actor(session), found, file, dry_run=dry_run)
    print_report(report)
    if report.rejected:
        raise ValidationFailed(
            _("{rejected} rows rejected; the other payments were reconciled").format(
                rejected=report.rejected
            )
        )


def status(ctx: typer.Context, cycle: str, program: ProgramOpt = None) -> None:
    """Batches by state and payments paid / failed / pending, with amounts; the batches that
    wait, and why. Exit code 12 while payments PHEE paid twice are not acknowledged."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = cycle_named(session, cycle, program)
        actor = cli.actor(session)
        totals = cycle_payment_totals(session, found)
        overdue = overdue_payments(session, actor, found.id, older_than=cli.settings.overdue_after)
        currency = found.program.currency
        print_people(cycle_outcomes(session, actor, found))
        table = Table(
            _("payment attempts of {name} ({state})").format(name=found.name, state=found.state),
            _("count"),
            _("amount"),
        )
        for batch_state, count in sorted(totals.batches.items()):
            table.add_row(
                _("batches {batch_state}").format(batch_state=batch_state), str(count), ""
            )
        for key in ("issued", "sent", "paid", "failed"):
            count, amount = totals.payments.get(key, (0, Decimal(0)))
            table.add_row(
                _("payments {state}").format(state=key), str(count), display(amount, currency)
            )
        table.add_row(
            _("payments overdue (sent > {hours} h ago)").format(hours=overdue.hours),
            str(overdue.payments),
            "",
        )
        console.print(table)
        waiting = waiting_count(session, found)
        if waiting:
            console.print(
                _(
                    "{waiting} issued payments wait for a batch: `g2p-phee batches create {name}`"
                ).format(waiting=waiting, name=found.name)
            )
        print_overdue(overdue)
        print_waiting(waiting_batches(session, found.id))
        twice = [(found, paid_twice(session, found.id))]
        print_paid_twice(found, twice[0][1])
        error = paid_twice_error(twice)
    if error is not None:
        raise error


def print_waiting(waits: list[BatchWait]) -> None:
    """The batches being sent or whose outcome is unknown: why each waits, and until when."""
    if not waits:
        return
    table = Table(_("batch"), _("state"), _("why it waits"), title=_("batches waiting"))
    for wait in waits:
        table.add_row(wait.batch, str(wait.state), escape(wait.reason))
    console.print(table)


def send(
    ctx: typer.Context,
    cycle: Annotated[
        str | None, typer.Argument(help="Send every sendable batch of the cycle")
    ] = None,
    program: ProgramOpt = None,
    batch: Annotated[str | None, typer.Option("--batch", help="Send only this batch")] = None,
) -> None:
    """Send batches to the hub (an unknown outcome is looked up first, never resent blindly).
    Exit code 11 when some batches were rejected or their outcome is unknown."""
    if (cycle is None) == (batch is None):
        raise typer.BadParameter(_("give a CYCLE or --batch BATCH"))
    cli = state(ctx)
    factory = cli.session_factory()
    with cli.unit_of_work() as session:
        actor = cli.actor(session)
        if batch is not None:
            one = service.get_batch(session, actor, batch)
            cycle_id, ids = one.cycle_id, [one.id]
        else:
            found = cycle_named(session, str(cycle), program)
            cycle_id, ids = found.id, service.sendable_batches(session, actor, found.id)
    with _progress() as bar:
        task = bar.add_task(_("sending"), total=len(ids))

        def told(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = service.send_cycle(factory, actor, cycle_id, ids, progress=told)
    print_send(report)
    with cli.unit_of_work() as session:  # batches another process is sending right now
        held = [w for w in waiting_batches(session, cycle_id) if w.state is BatchState.SENDING]
    print_waiting(held)
    stuck = sum(report.count(outcome) for outcome in TROUBLE)
    if stuck:
        raise HubIncomplete(
            _(
                "{stuck} of {count} batches did not go through (above); send again "
                "once the cause is fixed: a batch with an unknown outcome is looked up "
                "first, and resent only once the hub has been silent about it for the "
                "quiet period (the times above)"
            ).format(stuck=stuck, count=len(report.results))
        )


def print_send(report: SendReport) -> None:
    """Counts per outcome, then every batch that did not go through, or was skipped, and why."""
    console.print(", ".join(f"{report.count(o)} {o}" for o in SendOutcome))
    problems = [r for r in report.results if r.outcome in TROUBLE | {SendOutcome.SKIPPED}]
    if problems:
        table = Table(_("batch"), _("outcome"), _("reason"), title=_("batches not sent"))
        for r in problems:
            table.add_row(r.batch, r.outcome, r.message)
        console.print(table)


def sync(
    ctx: typer.Context,
    cycle: Annotated[str | None, typer.Argument(help="Only this cycle (default: all)")] = None,
    program: ProgramOpt = None,
) -> None:
    """Read payment statuses back from the hub and reconcile them."""
    cli = state(ctx)
    factory = cli.session_factory()
    with cli.unit_of_work() as session:
        actor = cli.actor(session)
        cycle_id = cycle_named(session, cycle, program).id if cycle else None
    with _progress() as bar:
        task = bar.add_task(_("syncing"), total=None)

        def told(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = service.sync_cycle(factory, actor, cycle_id, progress=told)
    completed = sum(1 for r in report.results if r.completed)
    paid = sum(r.paid for r in report.results)
    failed = sum(r.failed for r in report.results)
    console.print(
        _(
            "{count} batches synced: {paid} paid, {failed} failed, {completed} batches complete"
        ).format(count=len(report.results), paid=paid, failed=failed, completed=completed)
    )
    for r in report.results:
        for line in ([r.error] if r.error else []) + r.problems[:5]:
            console.print(
                _("  batch {batch}: {line}").format(batch=r.batch, line=line), soft_wrap=True
            )
    for line in report.problems:  # duplicates at the hub, or why they could not be looked for
        console.print(f"[red]{escape(line)}[/red]", soft_wrap=True)
    unread = sum(1 for r in report.results if r.error)
    incomplete = HubIncomplete(
        _(
            "{unread} of {count} batches could not be synced (above); the next "
            "sync tries them again"
        ).format(unread=unread, count=len(report.results))
    )
    with cli.unit_of_work() as session:
        actor = cli.actor(session)
        print_overdue(
            overdue_payments(session, actor, cycle_id, older_than=cli.settings.overdue_after)
        )
        twice = _paid_twice_of_synced(session, cycle_id, [r.batch for r in report.results])
        for found, report_of_cycle in twice:
            print_paid_twice(found, report_of_cycle)
        # paid twice is the more serious finding: it decides the exit code, naming the other
        paid_twice_found = paid_twice_error(twice, also=incomplete.message if unread else "")
    if paid_twice_found is not None:
        raise paid_twice_found
    if unread:
        raise incomplete


def _paid_twice_of_synced(
    session: Session, cycle_id: uuid.UUID | None, batches: list[str]
) -> list[tuple[Cycle, PaidTwice]]:
    """What the hub paid twice in the synced cycle(s); cycles without any are left out."""
    if cycle_id is not None:
        cycle_ids = {cycle_id}
    else:  # the cycles of the batches just synced, and any cycle still to acknowledge
        unacknowledged = select(DuplicatePayment.cycle_id).where(
            DuplicatePayment.acknowledged_at.is_(None)
        )
        cycle_ids = set(session.scalars(unacknowledged.distinct()))
        for start in range(0, len(batches), 500):
            names = batches[start : start + 500]
            query = select(PaymentBatch.cycle_id).where(PaymentBatch.name.in_(names)).distinct()
            cycle_ids.update(session.scalars(query))
    cycles = session.scalars(
        select(Cycle).where(Cycle.id.in_(cycle_ids)).order_by(Cycle.created_at, Cycle.sequence)
    )
    reports = ((cycle, paid_twice(session, cycle.id)) for cycle in cycles)
    return [(cycle, report) for cycle, report in reports if report.found]


def print_overdue(report: OverdueReport) -> None:
    """The overdue payments' sentence and the oldest batches; nothing when none is overdue."""
    if not report.payments:
        return
    console.print(f"[yellow]{report.describe()}[/yellow]", soft_wrap=True)
    table = Table(_("batch"), _("PHEE batch id"), _("accepted (UTC)"), _("open payments"))
    for batch in report.listed:
        at = f"{batch.submitted_at:%Y-%m-%d %H:%M}"
        table.add_row(batch.name, batch.phee_batch_id or "", at, str(batch.open))
    if report.batches > len(report.listed):
        table.caption = _("the {count} oldest of {batches} batches").format(
            count=len(report.listed), batches=report.batches
        )
    console.print(table)


def end(ctx: typer.Context, cycle: str, program: ProgramOpt = None) -> None:
    """Close a cycle for good: a distributed one, or an approved one with nothing to pay."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = cycle_named(session, cycle, program)
        service.end_cycle(session, cli.actor(session), found)
        console.print(_("cycle {name} is {state}").format(name=found.name, state=found.state))


def distribute(
    ctx: typer.Context,
    cycle: str,
    program: ProgramOpt = None,
    unpaid_reason: Annotated[
        str,
        typer.Option(
            "--unpaid-reason",
            help="Needed when some beneficiaries were not paid: what happens to them (audited)",
        ),
    ] = "",
) -> None:
    """Mark a cycle distributed (every payment final); says who was not paid, and why."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = cycle_named(session, cycle, program)
        actor = cli.actor(session)
        service.mark_distributed(session, actor, found, unpaid_reason=unpaid_reason)
        outcomes = cycle_outcomes(session, actor, found)
        console.print(_("cycle {name} is {state}").format(name=found.name, state=found.state))
        if outcomes.unpaid:
            console.print(
                _("{unpaid_text}; reason given: {unpaid_reason}").format(
                    unpaid_text=service.unpaid_text(outcomes), unpaid_reason=unpaid_reason
                )
            )
