"""``g2p-phee demo``: the whole product on the embedded default, in one command."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.cli.imports import print_report
from g2p_payment_phee.demo import CURRENCY, DemoResult, demo_database, run_demo
from g2p_payment_phee.money import display


def demo(
    ctx: typer.Context,
    registrants: Annotated[
        int, typer.Option(min=10, help="How many registrants to generate")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the generated data")] = 7,
    database_url: Annotated[
        str | None, typer.Option(help="Use this database instead of a fresh SQLite file")
    ] = None,
) -> None:
    """Build a demo program from nothing and print what it holds."""
    cli = state(ctx)
    url = database_url or demo_database(cli.settings.data_dir)
    result = run_demo(
        url, registrants=registrants, seed=seed, say=lambda line: console.print(f"• {line}")
    )
    print_report(result.import_report, limit=10)
    _summary(result)


def _summary(result: DemoResult) -> None:
    table = Table("demo summary", "value", title="g2p-payment-phee demo")
    table.add_row("registrants in the registry", str(result.registrants))
    table.add_row("  with a bank account", str(result.with_bank_account))
    table.add_row("  with a phone (E.164)", str(result.with_phone))
    table.add_row("  with a National ID", str(result.with_national_id))
    table.add_row("rows refused by the import", str(result.import_report.rejected))
    table.add_row("enrolled in the program", str(result.enrolled))
    table.add_row(
        "maker approving own cycle",
        "refused (maker–checker)" if result.maker_checker_refusal else "ALLOWED",
    )
    table.add_row("cycle state", result.cycle_state)
    table.add_row("entitlements approved", str(result.approved))
    table.add_row("amount approved", display(result.approved_amount, CURRENCY))
    console.print(table)
    console.print(f"database: {result.database_url}")
    console.print(
        "users (passwords shown once): "
        + ", ".join(f"{u} / {p}" for u, p in result.passwords.items())
    )
