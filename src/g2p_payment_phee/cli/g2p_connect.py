"""``g2p-phee g2p-connect senders …``: the MIS allowed to send disbursements (admins)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.g2p_connect import senders as service
from g2p_payment_phee.i18n import _
from g2p_payment_phee.programs.service import get_program

app = typer.Typer(help="G2P Connect: an MIS sends disbursements to pay.", no_args_is_help=True)
senders_app = typer.Typer(help="Senders (MIS) and their credentials.", no_args_is_help=True)
app.add_typer(senders_app, name="senders")
TOKEN_SECRET_ENV = "G2P_CONNECT_TOKEN_CLIENT_SECRET"  # noqa: S105 (a variable's name)


def _public_key(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        reason = _("cannot read {path}: {error}").format(path=path, error=error)
        raise ValidationFailed(reason, [FieldError("public_key", reason)]) from None


def _token_secret(token_url: str | None) -> str | None:
    """The token endpoint's client secret: from the environment or a hidden prompt."""
    if not token_url:
        return None
    secret = os.environ.get(TOKEN_SECRET_ENV)
    if secret:
        return secret
    prompted: str = typer.prompt(_("Client secret of the sender's token endpoint"), hide_input=True)
    return prompted


@senders_app.command("add")
def add(
    ctx: typer.Context,
    sender_id: str,
    program: Annotated[str, typer.Option(help="The program whose manager pays")],
    callback_url: Annotated[
        str | None, typer.Option(help="Where on-disburse callbacks go (else header.sender_uri)")
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option(help="PEM file of the sender's ed25519 key: signatures required")
    ] = None,
    auto_approve: Annotated[
        bool, typer.Option(help="Approve, prepare and send its cycles without a checker")
    ] = False,
    token_url: Annotated[
        str | None, typer.Option(help="The sender's own oauth2 token endpoint, for callbacks")
    ] = None,
    token_client_id: Annotated[
        str | None,
        typer.Option(help=f"Client id there; its secret is read from {TOKEN_SECRET_ENV} or asked"),
    ] = None,
) -> None:
    """Register a sender; prints its client secret once."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        request = service.SenderRequest(
            sender_id=sender_id,
            program=get_program(session, program),
            callback_url=callback_url,
            public_key_pem=_public_key(public_key),
            auto_approve=auto_approve,
            token_url=token_url,
            token_client_id=token_client_id,
            token_client_secret=_token_secret(token_url),
        )
        sender, secret = service.add_sender(session, cli.actor(session), request)
        console.print(
            _("registered sender {sender_id} for program {program}").format(
                sender_id=sender.sender_id, program=sender.program.name
            ),
            markup=False,
        )
        console.print(
            _("client id:     {client_id}").format(client_id=sender.sender_id), markup=False
        )
        console.print(_("client secret: {secret}").format(secret=secret), markup=False)
        console.print(_("The secret is shown only now: give it to the sender."), markup=False)


@senders_app.command("list")
def list_(ctx: typer.Context) -> None:
    """List senders with their program and settings."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        table = Table(
            _("sender"),
            _("program"),
            _("callback URL"),
            _("signed"),
            _("auto-approve"),
            _("status"),
        )
        for sender in service.list_senders(session, cli.actor(session)):
            status = (
                _("enabled")
                if sender.enabled
                else _("disabled {disabled_at:%Y-%m-%d %H:%M}").format(
                    disabled_at=sender.disabled_at
                )
            )
            table.add_row(
                Text(sender.sender_id),
                Text(sender.program.name),
                Text(sender.callback_url or "-"),
                _("yes") if sender.public_key_pem else _("no"),
                _("yes") if sender.auto_approve else _("no"),
                status,
            )
        console.print(table)


@senders_app.command("disable")
def disable(ctx: typer.Context, sender_id: str) -> None:
    """Refuse the sender's tokens and requests from now on; what it sent is still paid."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        sender = service.disable_sender(session, cli.actor(session), sender_id)
        console.print(
            _("disabled sender {sender_id}").format(sender_id=sender.sender_id), markup=False
        )
