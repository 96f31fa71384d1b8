"""``g2p-phee managers …``: a program's payment manager (configure, show, test-connection),
every program's (list), and the hub-wide PHEE defaults a new one starts from (defaults)."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated, Any, get_args

import typer
from pydantic.fields import FieldInfo
from rich.markup import escape
from rich.table import Table

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.i18n import _, lazy_gettext
from g2p_payment_phee.payments.config_service import (
    ConnectionCheck,
    check_connection,
    configure_manager,
    describe_manager,
    list_managers,
)
from g2p_payment_phee.payments.manager import kind_spec
from g2p_payment_phee.phee import defaults as phee_defaults
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.models import ManagerKind

app = typer.Typer(help="Payment managers (settings; secrets are write-only).", no_args_is_help=True)
defaults_app = typer.Typer(
    help="Hub-wide PHEE defaults a new PHEE manager starts from (admins).", no_args_is_help=True
)
app.add_typer(defaults_app, name="defaults")
NOT_TESTED = lazy_gettext("never tested")


def _parse_settings(pairs: list[str], kind: ManagerKind | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as text, the way a form sends them: the manager's settings model
    reads each as its own type (``500`` for a number, ``true`` for a flag, ``1010101010`` for
    a text setting such as ``payer_id``); an empty value clears an optional setting (every
    one of the PHEE defaults, ``kind`` None)."""
    fields = kind_spec(kind).settings_model.model_fields if kind else {}
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise typer.BadParameter(
                _("{pair!r} is not KEY=VALUE").format(pair=pair), param_hint="--set"
            )
        optional = kind is None or (
            key in fields and type(None) in get_args(fields[key].annotation)
        )
        settings[key] = None if optional and not value else value
    return settings


def _read_secrets(names: list[str], clear: list[str]) -> dict[str, str | None]:
    """Each secret from G2P_SECRET_<NAME> or a hidden prompt (never from the command line)."""
    secrets: dict[str, str | None] = {}
    for name in names:
        value = os.environ.get(f"G2P_SECRET_{name.upper()}")
        if value is None:
            value = typer.prompt(f"{name}", hide_input=True)
        secrets[name] = value
    for name in clear:
        secrets[name] = ""
    return secrets


@app.command("configure")
def configure(
    ctx: typer.Context,
    program: str,
    kind: Annotated[ManagerKind, typer.Option(help="default or phee")] = ManagerKind.PHEE,
    settings: Annotated[
        list[str] | None, typer.Option("--set", help="KEY=VALUE (repeat), e.g. tenant_id=gorilla")
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(help="Secret to set: read from G2P_SECRET_<NAME> or prompted (repeat)"),
    ] = None,
    clear_secret: Annotated[list[str] | None, typer.Option(help="Secret to clear (repeat)")] = None,
) -> None:
    """Create or change a program's payment manager; every setting is validated on save."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = programs.get_program(session, program)
        actor = cli.actor(session)
        values = _parse_settings(settings or [], kind)
        changes = _read_secrets(secret or [], clear_secret or [])
        configure_manager(session, actor, found, kind, values, changes)
        _print(describe_manager(session, actor, found))


@app.command("show")
def show(ctx: typer.Context, program: str) -> None:
    """A program's manager settings; secrets only as set / not set."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = programs.get_program(session, program)
        _print(describe_manager(session, cli.actor(session), found))


@app.command("test-connection")
def test_connection(ctx: typer.Context, program: str) -> None:
    """Fetch a token and make a harmless read at the program's hub; the exact failure if not
    (admins only; audited)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = programs.get_program(session, program)
        result = check_connection(session, cli.actor(session), found)
    if result.error is not None:
        raise result.error
    _print_check(result)


def _print_check(result: ConnectionCheck) -> None:
    """The summary, then each warning (the hub answered, but a setting will not work)."""
    console.print(result.message, markup=False, soft_wrap=True)
    for warning in result.warnings:
        console.print(
            _("[yellow]warning:[/yellow] {warning}").format(warning=escape(warning)), soft_wrap=True
        )


@app.command("list")
def list_all(ctx: typer.Context) -> None:
    """Every program's payment manager: its kind, hub and last test connection."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = list_managers(session, cli.actor(session))
    table = Table(_("program"), _("kind"), _("hub"), _("last test"), _("tested at"), _("message"))
    for m in found:
        kind = m.label if m.configured else _("{label} (not configured)").format(label=m.label)
        tested = m.check_result.value if m.check_result else str(NOT_TESTED)
        when = f"{m.checked_at:%Y-%m-%d %H:%M} UTC" if m.checked_at else ""
        table.add_row(
            escape(m.program.name),
            kind,
            escape(m.hub or "—"),
            tested,
            when,
            escape(m.check_message or ""),
        )
    console.print(table)


@defaults_app.command("show")
def defaults_show(ctx: typer.Context) -> None:
    """The hub-wide PHEE defaults; secrets only as set / not set."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        _print_defaults(phee_defaults.show_defaults(session, cli.actor(session)))


@defaults_app.command("set")
def defaults_set(
    ctx: typer.Context,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="KEY=VALUE (repeat), e.g. tenant_id=gorilla; KEY= unsets a default"
        ),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            help="password or authorization: read from G2P_SECRET_<NAME> or prompted (repeat)"
        ),
    ] = None,
    clear_secret: Annotated[list[str] | None, typer.Option(help="Secret to clear (repeat)")] = None,
) -> None:
    """Change the defaults a PHEE manager takes when it is configured for the first time
    (existing managers keep their settings); each bad setting is named, nothing is saved."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        actor = cli.actor(session)
        values = _parse_settings(settings or [], None)
        changes = _read_secrets(secret or [], clear_secret or [])
        _print_defaults(phee_defaults.set_defaults(session, actor, values, changes))


def _print_defaults(description: dict[str, Any]) -> None:
    table = Table(_("setting"), _("label"), _("value"), title=_("Payment Hub EE defaults"))
    for key, value in description["settings"].items():
        shown = "" if value is None else str(value)
        table.add_row(key, phee_defaults.setting_title(key), escape(shown))
    for key, value in description["secrets"].items():
        table.add_row(f"{key} (secret)", phee_defaults.secret_title(key), value)
    console.print(table)


def _print(description: dict[str, Any]) -> None:
    """Each setting with its label (the settings model's title) and its value; an enum value
    also with its choice's label."""
    spec = kind_spec(ManagerKind(description["kind"]))
    fields = spec.settings_model.model_fields
    secret_fields = spec.secrets_model.model_fields
    table = Table(
        _("setting"),
        _("label"),
        _("value"),
        title=_("{description} payment manager").format(description=description["kind"]),
    )
    for key, value in description["settings"].items():
        info = fields.get(key)
        table.add_row(key, (info.title or "") if info else "", _shown_value(info, value))
    for key, value in description["secrets"].items():
        secret = secret_fields.get(key)
        table.add_row(
            _("{key} (secret)").format(key=key), (secret.title or "") if secret else "", value
        )
    console.print(table)


def _shown_value(info: FieldInfo | None, value: Any) -> str:
    if value is None:
        return ""
    annotation = info.annotation if info else None
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        try:
            label = getattr(annotation(value), "label", None)
        except ValueError:
            label = None
        if label and label != str(value):
            return f"{value} ({label})"
    return str(value)
