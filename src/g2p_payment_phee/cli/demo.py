"""``g2p-phee demo``: the whole product on the embedded default, in one command."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Annotated

import typer
from rich.table import Table

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.cli.imports import print_report
from g2p_payment_phee.demo import (
    CURRENCY,
    DemoResult,
    demo_database,
    point_manager_at,
    run_demo,
)
from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import display
from g2p_payment_phee.payments.outcomes import CycleOutcomes, Outcome


def demo(
    ctx: typer.Context,
    registrants: Annotated[
        int, typer.Option(min=10, help="How many registrants to generate")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the generated data")] = 7,
    database_url: Annotated[
        str | None, typer.Option(help="Use this database instead of a fresh SQLite file")
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the web UI over the demo at the end")
    ] = True,
    host: Annotated[str, typer.Option(help="Address the UI listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port the UI listens on")] = 8000,
) -> None:
    """Build a demo program from nothing and print what it holds."""
    cli = state(ctx)
    if not cli.debug:
        logging.getLogger("g2p_payment_phee").setLevel(logging.WARNING)  # the story is printed
    url = database_url or demo_database(cli.settings.data_dir)
    files = cli.settings.data_dir / "demo" / "batches"
    for stale in files.glob("*.csv"):
        stale.unlink()
    result = run_demo(
        url,
        registrants=registrants,
        seed=seed,
        files_folder=files,
        say=lambda line: console.print(f"• {line}"),
    )
    print_report(result.import_report, limit=10)
    _summary(result)
    if serve:
        _serve(result, seed, host, port)


def _serve(result: DemoResult, seed: int, host: str, port: int) -> None:
    """The UI over the demo database, with a fresh in-process emulator to keep paying."""
    from g2p_payment_phee.cli.serve import run_server
    from g2p_payment_phee.emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(seed=seed)) as hub:
        factory = point_manager_at(result.database_url, hub.base_url)
        console.print(
            _("the demo program's manager now points at a PHEE emulator on {base_url}").format(
                base_url=hub.base_url
            )
        )
        roles = {"admin": _("admin"), "maker": _("program manager"), "checker": _("approver")}
        for name, password in result.passwords.items():
            console.print(
                _("  sign in as {name} / {password} ({role})").format(
                    name=name, password=password, role=roles.get(name, "")
                )
            )
        console.print(_("Ctrl+C stops the UI and the emulator"))
        run_server(factory, host, port)


def _people(outcomes: CycleOutcomes) -> list[tuple[str, str, str]]:
    """People first: each beneficiary once, by the outcome of their entitlement."""
    rows = []
    for outcome in Outcome:
        people = outcomes.people.get(outcome)
        if people is not None:
            amount = outcomes.amount_paid if outcome is Outcome.PAID else people.amount
            label = _("beneficiaries {label}").format(label=outcome.label)
            rows.append((label, str(people.count), display(amount, CURRENCY)))
    for reason, count in outcomes.reasons:
        rows.append((_("  not paid: {reason}").format(reason=reason), str(count), ""))
    return rows


def _summary(result: DemoResult) -> None:
    table = Table(
        _("demo"), _("count"), _("amount"), title=_("g2p-payment-phee demo: final reconciliation")
    )
    rows: list[tuple[str, str, str]] = [
        (_("registrants imported"), str(result.registrants), ""),
        (_("  rows refused by the import"), str(result.import_report.rejected), ""),
        (_("enrolled in the program"), str(result.enrolled), ""),
        (
            _("maker approving the cycle"),
            _("refused") if result.maker_checker_refusal else _("ALLOWED"),
            "",
        ),
        (
            _("entitlements approved by the checker"),
            str(result.approved),
            display(result.approved_amount, CURRENCY),
        ),
    ]
    if result.preparation is not None:
        prep = result.preparation
        rows.append((_("entitlements skipped at prepare"), str(prep.skipped_count), ""))
        rows.append((_("payments prepared (first round)"), str(prep.created), ""))
        rows.append((_("batches (first round)"), str(prep.batches), ""))
    if result.outcomes is not None:
        rows += _people(result.outcomes)
    if result.retry is not None:
        rows.append((_("payment attempts retried"), str(result.retry.created), ""))
    if result.totals is not None:
        for batch_state, count in sorted(result.totals.batches.items()):
            rows.append(
                (_("batches {batch_state}").format(batch_state=batch_state), str(count), "")
            )
        for key in ("paid", "failed", "sent", "issued"):
            count, amount = result.totals.payments.get(key, (0, Decimal(0)))
            rows.append(
                (_("payment attempts {key}").format(key=key), str(count), display(amount, CURRENCY))
            )
    for reason, count in sorted(result.failure_reasons.items()):
        rows.append((_("  attempts failed: {reason}").format(reason=reason), str(count), ""))
    rows.append((_("request_ids accepted twice by PHEE"), str(result.accepted_twice), ""))
    rows.append((_("cycle state"), result.cycle_state_final or result.cycle_state, ""))
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(_("database: {database_url}").format(database_url=result.database_url))
    users = ", ".join(f"{u} / {p}" for u, p in result.passwords.items())
    console.print(_("users (passwords shown once): {users}").format(users=users))
