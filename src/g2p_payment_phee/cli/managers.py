"""``g2p-phee managers configure|show PROGRAM``: a program's payment manager."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated, Any, get_args

import typer
from pydantic.fields import FieldInfo
from rich.table import Table

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.payments.config_service import (
    check_connection,
    configure_manager,
    describe_manager,
)
from g2p_payment_phee.payments.manager import kind_spec
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.models import ManagerKind

app = typer.Typer(help="Payment managers (settings; secrets are write-only).", no_args_is_help=True)


def _parse_settings(pairs: list[str], kind: ManagerKind) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as text, the way a form sends them: the manager's settings model
    reads each as its own type (``500`` for a number, ``true`` for a flag, ``1010101010`` for
    a text setting such as ``payer_id``); an empty value clears an optional setting."""
    fields = kind_spec(kind).settings_model.model_fields
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--set")
        optional = key in fields and type(None) in get_args(fields[key].annotation)
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
    console.print(result.message)


def _print(description: dict[str, Any]) -> None:
    """Each setting with its label (the settings model's title) and its value; an enum value
    also with its choice's label."""
    spec = kind_spec(ManagerKind(description["kind"]))
    fields = spec.settings_model.model_fields
    secret_fields = spec.secrets_model.model_fields
    table = Table("setting", "label", "value", title=f"{description['kind']} payment manager")
    for key, value in description["settings"].items():
        info = fields.get(key)
        table.add_row(key, (info.title or "") if info else "", _shown_value(info, value))
    for key, value in description["secrets"].items():
        secret = secret_fields.get(key)
        table.add_row(f"{key} (secret)", (secret.title or "") if secret else "", value)
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
