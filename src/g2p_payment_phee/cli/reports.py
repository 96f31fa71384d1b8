"""``g2p-phee reports cycle``: a cycle's reconciliation report as an XLSX or CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.cli.payments import ProgramOpt, cycle_named
from g2p_payment_phee.exports.cycle_report import cycle_report

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
        console.print(f"no beneficiaries to report: wrote {result.path} with the header only")
    else:
        console.print(f"wrote {result.rows:,} rows to {result.path} ({result.fmt})")
