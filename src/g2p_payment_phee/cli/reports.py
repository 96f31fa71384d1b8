"""``g2p-phee reports cycle``: a cycle's reconciliation report as an XLSX or CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.cli.payments import ProgramOpt, cycle_named
from g2p_payment_phee.exports.cycle_report import cycle_report
from g2p_payment_phee.i18n import _

app = typer.Typer(help="Reports of a cycle, as files readable by you only.", no_args_is_help=True)


@app.command("cycle")
def cycle(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="CYCLE", help="The cycle (its name or id)")],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The file to write (replaced if it exists)", show_default=False
        ),
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help="xlsx or csv")] = "xlsx",
    program: ProgramOpt = None,
) -> None:
    """The reconciliation report: one row per beneficiary (payee, amounts, outcome, PHEE
    batch and transaction, attempts, last failure reason); XLSX adds a summary sheet."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = cycle_named(session, name, program)
        result = cycle_report(session, cli.actor(session), found, fmt, output)
    if result.rows == 0:
        console.print(
            _("no beneficiaries to report: wrote {path} with the header only").format(
                path=result.path
            )
        )
    else:
        console.print(
            _("wrote {rows:,} rows to {path} ({fmt})").format(
                rows=result.rows, path=result.path, fmt=result.fmt
            )
        )
