"""``g2p-phee id-types …``: the kinds of registrant ID ("National ID") an import may name."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.i18n import _
from g2p_payment_phee.registry import service

app = typer.Typer(help="ID types of registrant IDs (National ID, Passport…).", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    pattern: Annotated[
        str | None,
        typer.Option(help="Regular expression every ID value must match in full, e.g. [0-9]{8}"),
    ] = None,
    description: Annotated[str, typer.Option(help="What the ID is, for people")] = "",
) -> None:
    """Create an ID type (admins and program managers)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        id_type = service.create_id_type(
            session,
            cli.actor(session),
            name=name,
            validation_regex=pattern,
            description=description,
        )
        shown = (
            _("pattern {validation_regex}").format(validation_regex=id_type.validation_regex)
            if id_type.validation_regex
            else _("no pattern")
        )
        console.print(
            _("created ID type {name} ({shown})").format(name=id_type.name, shown=shown),
            markup=False,
        )


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List ID types with their pattern and whether they take new IDs."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        table = Table(_("name"), _("pattern"), _("description"), _("status"))
        for id_type in service.list_id_types(session, cli.actor(session)):
            status = (
                _("enabled")
                if id_type.enabled
                else _("disabled {disabled_at:%Y-%m-%d %H:%M}").format(
                    disabled_at=id_type.disabled_at
                )
            )
            table.add_row(
                Text(id_type.name),
                Text(id_type.validation_regex or "-"),
                Text(id_type.description),
                status,
            )
        console.print(table)


@app.command("disable")
def disable(ctx: typer.Context, name: str) -> None:
    """Refuse new IDs of the type from now on; the registrants' IDs of it stay."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        id_type = service.disable_id_type(session, cli.actor(session), name)
        console.print(
            _("disabled ID type {name}: it takes no new IDs").format(name=id_type.name),
            markup=False,
        )
