"""The Typer application: the root options and every command group."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from g2p_payment_phee.cli import (
    batching,
    exports,
    g2p_connect,
    g2p_connect_demo,
    id_types,
    managers,
    payments,
    programs,
    reports,
    users,
    workers,
)
from g2p_payment_phee.cli.context import CliState, cli_language, console, state
from g2p_payment_phee.cli.demo import demo
from g2p_payment_phee.cli.emulator import emulator
from g2p_payment_phee.cli.imports import app as imports_app
from g2p_payment_phee.cli.serve import serve
from g2p_payment_phee.db import migrate
from g2p_payment_phee.i18n import _, use

app = typer.Typer(
    name="g2p-phee",
    help="Pay social-protection benefits through Mifos Payment Hub EE.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(users.app, name="users")
app.add_typer(programs.programs_app, name="programs")
app.add_typer(programs.cycles_app, name="cycles")
app.add_typer(imports_app, name="import")
app.add_typer(id_types.app, name="id-types")
app.command("demo")(demo)
app.command("emulator")(emulator)
app.command("serve")(serve)
app.command("worker")(workers.worker), app.command("beat")(workers.beat)
app.add_typer(managers.app, name="managers")
app.add_typer(payments.batches_app, name="batches")
payments.batches_app.command("create")(batching.create)
app.add_typer(batching.payments_app, name="payments")
app.command("prepare")(payments.prepare)
app.command("retry-failed")(payments.retry_failed)
app.command("reconcile-import")(payments.reconcile_import)
app.command("status")(payments.status)
app.command("send")(payments.send)
app.command("sync")(payments.sync)
programs.cycles_app.command("distribute")(payments.distribute)
programs.cycles_app.command("end")(payments.end)
app.add_typer(exports.app, name="export")
app.add_typer(reports.app, name="reports")
app.add_typer(g2p_connect.app, name="g2p-connect")
g2p_connect.app.command("send-demo")(g2p_connect_demo.send_demo)


@app.callback()
def root(
    ctx: typer.Context,
    actor: Annotated[
        str | None,
        typer.Option("--as", envvar="G2P_ACTOR", help="The user acting (audited, role-checked)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Global options; settings come from G2P_* variables and .env."""
    ctx.obj = CliState(actor_name=actor, debug=debug)
    # the console script sets it already; this covers the app run by other means (tests)
    ctx.with_resource(use(language=cli_language()))
    settings = ctx.obj.settings
    logging.basicConfig(
        level=logging.DEBUG if debug else settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not debug:
        for noisy in ("alembic", "httpx", "uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def init(ctx: typer.Context) -> None:
    """Create or upgrade the database schema (Alembic migrations) and the secret key."""
    cli = state(ctx)
    cli.settings.secret()
    migrate(cli.engine)
    url = cli.engine.url.render_as_string(hide_password=True)
    console.print(_("database ready: {url}").format(url=url))
