"""``g2p-phee import registrants|entitlements FILE [--dry-run]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.imports import ImportReport
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.entitlement_import import import_entitlements
from g2p_payment_phee.registry.importer import import_registrants

app = typer.Typer(help="Bulk imports from CSV or JSON.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="A .csv or .json file")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Validate and report; write nothing")]


@app.command("registrants")
def registrants(ctx: typer.Context, file: FileArg, dry_run: DryRun = False) -> None:
    """Import registrants with their IDs, phones, emails and bank accounts."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        report = import_registrants(session, cli.actor(session), file, dry_run=dry_run)
    _finish(report)


@app.command("entitlements")
def entitlements(
    ctx: typer.Context,
    file: FileArg,
    cycle: Annotated[str, typer.Option(help="The draft cycle to fill")],
    program: Annotated[str | None, typer.Option("--program", "-p")] = None,
    dry_run: DryRun = False,
) -> None:
    """Import a draft cycle's entitlements with their amounts."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = programs.get_program(session, program) if program else None
        target = programs.get_cycle(session, cycle, found)
        report = import_entitlements(session, cli.actor(session), target, file, dry_run=dry_run)
    _finish(report)


def print_report(report: ImportReport, *, limit: int = 50) -> None:
    """The counts, then the rejected rows with field and reason."""
    mode = _(" (dry run: nothing written)") if report.dry_run else ""
    console.print(
        _("{rows} rows: {created} created, {updated} updated, {rejected} rejected{mode}").format(
            rows=report.rows,
            created=report.created,
            updated=report.updated,
            rejected=report.rejected,
            mode=mode,
        )
    )
    if report.errors:
        table = Table(_("row"), _("field"), _("reason"))
        for problem in report.errors[:limit]:
            table.add_row(str(problem.row), problem.field, problem.reason)
        console.print(table)
        if len(report.errors) > limit:
            console.print(_("… and {count} more problems").format(count=len(report.errors) - limit))


def _finish(report: ImportReport) -> None:
    """Print the report after the good rows were committed; rejected rows make the exit non-zero."""
    print_report(report)
    if report.rejected:
        written = _("would be imported") if report.dry_run else _("were imported")
        raise ValidationFailed(
            _("{rejected} rows rejected; the valid rows {written}").format(
                rejected=report.rejected, written=written
            )
        )
