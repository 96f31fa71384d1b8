"""``g2p-phee export registrants|entitlements|payments|audit``: a list as a CSV or XLSX file."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.cli.payments import ProgramOpt, cycle_named
from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.exports.formats import ExportFormat
from g2p_payment_phee.exports.kinds import (
    AuditFilters,
    EntitlementFilters,
    Filters,
    PaymentFilters,
    RegistrantFilters,
)
from g2p_payment_phee.exports.service import ExportResult, export
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.registry.models import RegistrantKind
from g2p_payment_phee.users.models import User

app = typer.Typer(
    help="Write a list as a CSV or XLSX file (readable by you only), filtered as on its page.",
    no_args_is_help=True,
)
Output = Annotated[
    Path,
    typer.Option(
        "--output", "-o", help="The file to write (replaced if it exists)", show_default=False
    ),
]
Format = Annotated[
    ExportFormat | None,
    typer.Option("--format", "-f", help="csv or xlsx (default: from the output's name)"),
]


def _write(
    ctx: typer.Context,
    output: Path,
    fmt: ExportFormat | None,
    filters: Filters | Callable[[Session, User], Filters],
) -> None:
    """Export in one unit of work; ``filters`` may need it to find what a name means."""
    chosen = fmt or _format_of(output)
    cli = state(ctx)
    with cli.unit_of_work() as session:
        actor = cli.actor(session)
        chosen_filters = filters(session, actor) if callable(filters) else filters
        result = export(session, actor, chosen_filters, chosen, output)
    _report(result)


def _format_of(output: Path) -> ExportFormat:
    suffix = output.suffix.lower().removeprefix(".")
    if suffix in set(ExportFormat):
        return ExportFormat(suffix)
    raise ValidationFailed(
        _("{name} ends in neither .csv nor .xlsx: say --format csv or --format xlsx").format(
            name=output.name
        ),
        [FieldError("format", _("csv or xlsx"))],
    )


def _report(result: ExportResult) -> None:
    what = f"{result.kind}, {result.fmt}"
    if result.rows == 0:
        console.print(
            _("0 rows match the filters: wrote {path} ({what}), its header only").format(
                path=result.path, what=what
            )
        )
    else:
        console.print(
            _("wrote {rows:,} rows to {path} ({what})").format(
                rows=result.rows, path=result.path, what=what
            )
        )


@app.command("registrants")
def registrants(
    ctx: typer.Context,
    output: Output,
    fmt: Format = None,
    search: Annotated[
        str | None,
        typer.Option("--search", "-q", help="Reference prefix, part of the name, ID or phone"),
    ] = None,
    kind: Annotated[RegistrantKind | None, typer.Option("--kind")] = None,
) -> None:
    """Registrants by reference, with their enabled phones; personal data: keep the file safe."""
    _write(ctx, output, fmt, RegistrantFilters(q=search, kind=kind))


@app.command("entitlements")
def entitlements(
    ctx: typer.Context,
    cycle: str,
    output: Output,
    fmt: Format = None,
    program: ProgramOpt = None,
    state_: Annotated[EntitlementState | None, typer.Option("--state")] = None,
) -> None:
    """A cycle's entitlements, with their registrants, optionally in one state."""

    def filters(session: Session, actor: User) -> Filters:
        return EntitlementFilters(cycle_named(session, cycle, program).id, state_)

    _write(ctx, output, fmt, filters)


@app.command("payments")
def payment_list(
    ctx: typer.Context,
    output: Output,
    fmt: Format = None,
    cycle: Annotated[str | None, typer.Option("--cycle", help="Only this cycle's")] = None,
    program: ProgramOpt = None,
    batch: Annotated[str | None, typer.Option("--batch", help="Only this batch's")] = None,
    state_: Annotated[PaymentState | None, typer.Option("--state")] = None,
    status: Annotated[
        PaymentStatus | None, typer.Option("--status", help="A final outcome (implies reconciled)")
    ] = None,
) -> None:
    """Payments with their outcome and failure reason; in file order with --batch."""

    def filters(session: Session, actor: User) -> Filters:
        cycle_id = cycle_named(session, cycle, program).id if cycle else None
        batch_id = payments.get_batch(session, actor, batch).id if batch else None
        return PaymentFilters(cycle_id, batch_id, state_, status)

    _write(ctx, output, fmt, filters)


@app.command("audit")
def audit_log(
    ctx: typer.Context,
    output: Output,
    fmt: Format = None,
    action: Annotated[str | None, typer.Option("--action", help="e.g. cycle.approved")] = None,
    user: Annotated[str | None, typer.Option("--user", help="The acting user's name")] = None,
    subject_type: Annotated[str | None, typer.Option("--subject-type", help="e.g. cycles")] = None,
    subject: Annotated[uuid.UUID | None, typer.Option("--subject", help="A subject id")] = None,
) -> None:
    """The audit log, newest first; every filter is an exact match."""
    _write(ctx, output, fmt, AuditFilters(action, user, subject_type, subject))
