"""``g2p-phee users …``: create, list, disable and enable users; passwords and tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.i18n import _, lazy_gettext
from g2p_payment_phee.users import service
from g2p_payment_phee.users.auth import create_api_token
from g2p_payment_phee.users.models import Role

app = typer.Typer(help="Users and their roles.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    username: str,
    role: Annotated[Role, typer.Option(help="admin, program_manager, approver or viewer")],
    full_name: Annotated[str, typer.Option("--full-name")] = "",
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="G2P_NEW_USER_PASSWORD",
            help="Prompted when not given (or G2P_NEW_USER_PASSWORD).",
        ),
    ] = "",
) -> None:
    """Create a user. The first admin needs no --as; every other user is created by an admin."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        actor = cli.actor(session) if cli.actor_name else None
        user = service.create_user(
            session, actor, username=username, password=password, role=role, full_name=full_name
        )
        console.print(
            _("created user {username} ({role})").format(username=user.username, role=user.role)
        )


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List users with their role and status."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        rows = service.list_users(session, cli.actor(session))
        table = Table(_("username"), _("role"), _("name"), _("status"), _("created"))
        for user in rows:
            status = _("active") if user.active else _("disabled")
            table.add_row(
                user.username, user.role, user.full_name, status, f"{user.created_at:%Y-%m-%d}"
            )
        console.print(table)


@app.command("disable")
def disable(ctx: typer.Context, username: str) -> None:
    """Disable a user: their web sessions and API tokens end for good; they cannot sign in."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        user = service.set_active(session, cli.actor(session), username, active=False)
        console.print(_("disabled {username}").format(username=user.username))


@app.command("enable")
def enable(ctx: typer.Context, username: str) -> None:
    """Enable a disabled user again."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        user = service.set_active(session, cli.actor(session), username, active=True)
        console.print(_("enabled {username}").format(username=user.username))


@app.command("password")
def password(
    ctx: typer.Context,
    current: Annotated[
        str,
        typer.Option(
            prompt=lazy_gettext("Current password"),
            hide_input=True,
            envvar="G2P_CURRENT_PASSWORD",
            help="Prompted when not given (or G2P_CURRENT_PASSWORD).",
        ),
    ] = "",
    new: Annotated[
        str,
        typer.Option(
            prompt=lazy_gettext("New password"),
            hide_input=True,
            confirmation_prompt=True,
            envvar="G2P_NEW_PASSWORD",
            help="Prompted when not given (or G2P_NEW_PASSWORD).",
        ),
    ] = "",
) -> None:
    """Change the acting user's (--as) own password; their web sessions end."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        user = service.change_password(session, cli.actor(session), current=current, new=new)
        console.print(
            _("password of {username} changed; their web sessions ended").format(
                username=user.username
            )
        )


@app.command("reset-password")
def reset_password(
    ctx: typer.Context,
    username: str,
    password: Annotated[
        str,
        typer.Option(
            prompt=lazy_gettext("New password"),
            hide_input=True,
            confirmation_prompt=True,
            envvar="G2P_NEW_USER_PASSWORD",
            help="Prompted when not given (or G2P_NEW_USER_PASSWORD).",
        ),
    ] = "",
) -> None:
    """Set a new password for a user (an admin, --as); that user's web sessions end."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        user = service.reset_password(session, cli.actor(session), username, password)
        console.print(
            _("password of {username} reset; their web sessions ended").format(
                username=user.username
            )
        )


@app.command("token")
def token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name to recognise the token by")],
) -> None:
    """Create a personal API token for the acting user (--as); it is printed once, only here."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        created = create_api_token(session, cli.actor(session), name)
    console.print(
        _("API token {name!r} (shown once, keep it safe):").format(name=created.api_token.name)
    )
    console.print(created.token, soft_wrap=True, highlight=False)
