"""Senders: the MIS registered to send us disbursements (admins register and disable them).

Each sender gets client credentials for ``/g2p-connect/oauth2/client/token``: its
``sender_id`` as client id and a random secret, shown once and stored only as its SHA-256. A
sender that auto-approves has a service user (role admin: it approves, prepares and sends the
sender's cycles; its password is random and known to nobody, so nobody signs in as it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import Conflict, FieldError, NotFound, ValidationFailed
from g2p_payment_phee.g2p_connect.envelope import MAX_ID_LENGTH
from g2p_payment_phee.g2p_connect.models import G2PConnectSender
from g2p_payment_phee.g2p_connect.signature import load_public_key
from g2p_payment_phee.i18n import _
from g2p_payment_phee.programs.models import Program
from g2p_payment_phee.security import (
    decrypt_secret,
    encrypt_secret,
    hash_token,
    new_token,
    token_matches,
)
from g2p_payment_phee.users.models import Role, User
from g2p_payment_phee.users.permissions import Permission, authorize
from g2p_payment_phee.users.service import create_user

SENDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]*")
_USERNAME_UNSAFE = re.compile(r"[^a-z0-9._@-]")


@dataclass(frozen=True)
class SenderRequest:
    """What an admin gives to register a sender (secrets only in memory)."""

    sender_id: str
    program: Program
    callback_url: str | None = None
    public_key_pem: str | None = None
    auto_approve: bool = False
    token_url: str | None = None
    token_client_id: str | None = None
    token_client_secret: str | None = None


def add_sender(
    session: Session, actor: User, request: SenderRequest
) -> tuple[G2PConnectSender, str]:
    """Register a sender; returns it and its client secret (shown once, never stored)."""
    authorize(actor, Permission.MANAGE_SETTINGS)
    problems = _problems(request)
    if problems:
        raise ValidationFailed("; ".join(str(p) for p in problems), problems)
    sender_id = request.sender_id.strip()
    if session.scalar(select(G2PConnectSender.id).where(G2PConnectSender.sender_id == sender_id)):
        raise Conflict(_("a G2P Connect sender {sender_id!r} exists").format(sender_id=sender_id))
    secret = new_token()
    sender = G2PConnectSender(
        sender_id=sender_id,
        program_id=request.program.id,
        program=request.program,
        client_secret_hash=hash_token(secret),
        callback_url=_blank_none(request.callback_url),
        public_key_pem=_blank_none(request.public_key_pem),
        auto_approve=request.auto_approve,
        token_url=_blank_none(request.token_url),
        token_client_id=_blank_none(request.token_client_id),
        token_client_secret_encrypted=_encrypted(request.token_client_secret),
    )
    if request.auto_approve:
        sender.service_user_id = _service_user(session, actor, sender_id).id
    session.add(sender)
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.G2P_CONNECT_SENDER_CREATED,
        sender,
        {
            "sender_id": sender_id,
            "program": request.program.name,
            "auto_approve": sender.auto_approve,
        },
    )
    return sender, secret


def _problems(request: SenderRequest) -> list[FieldError]:
    problems: list[FieldError] = []
    sender_id = request.sender_id.strip()
    if not SENDER_ID.fullmatch(sender_id) or len(sender_id) > MAX_ID_LENGTH:
        problems.append(
            FieldError(
                "sender_id",
                _("1-99 characters: letters, digits and . _ : @ - (not first)"),
            )
        )
    for name, url in (("callback_url", request.callback_url), ("token_url", request.token_url)):
        if url and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url.strip()):
            problems.append(FieldError(name, _("must be an http:// or https:// URL")))
    if request.public_key_pem and request.public_key_pem.strip():
        try:
            load_public_key(request.public_key_pem.strip())
        except ValueError:
            problems.append(FieldError("public_key", _("must be an ed25519 public key in PEM")))
    has_url = bool(_blank_none(request.token_url))
    has_id = bool(_blank_none(request.token_client_id))
    has_secret = bool(request.token_client_secret)
    if has_url != has_id or (has_url and not has_secret) or (has_secret and not has_url):
        problems.append(
            FieldError(
                "token_url",
                _("the token endpoint needs its URL, client id and client secret together"),
            )
        )
    return problems


def _blank_none(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _encrypted(secret: str | None) -> str | None:
    return encrypt_secret(get_settings().secret(), secret) if secret else None


def _service_user(session: Session, actor: User, sender_id: str) -> User:
    base = "g2p-connect-" + _USERNAME_UNSAFE.sub("-", sender_id.lower())
    username = base[:140]
    taken = select(User.id).where(User.username.like(f"{username}%"))
    if session.scalars(taken).first() is not None:
        username = f"{username}-{new_token(4).lower().replace('_', '-')}"[:150]
    return create_user(
        session,
        actor,
        username=username,
        password=new_token(),
        role=Role.ADMIN,
        full_name=f"G2P Connect sender {sender_id}",
    )


def list_senders(session: Session, actor: User) -> list[G2PConnectSender]:
    """Every sender, enabled first, by sender id."""
    authorize(actor, Permission.MANAGE_SETTINGS)
    query = select(G2PConnectSender).order_by(
        G2PConnectSender.disabled_at.is_not(None), G2PConnectSender.sender_id
    )
    return list(session.scalars(query))


def get_sender(session: Session, sender_id: str) -> G2PConnectSender:
    """A sender by its sender id, or NotFound."""
    sender = session.scalar(
        select(G2PConnectSender).where(G2PConnectSender.sender_id == sender_id.strip())
    )
    if sender is None:
        raise NotFound(_("no G2P Connect sender {sender_id!r}").format(sender_id=sender_id))
    return sender


def disable_sender(session: Session, actor: User, sender_id: str) -> G2PConnectSender:
    """The sender gets no more tokens and its requests are refused; what it sent stays and is
    still paid. Its service user is disabled too. Disabling twice changes nothing."""
    authorize(actor, Permission.MANAGE_SETTINGS)
    sender = get_sender(session, sender_id)
    if sender.disabled_at is not None:
        return sender
    sender.disabled_at = utcnow()
    if sender.service_user_id is not None:
        service_user = session.get(User, sender.service_user_id)
        if service_user is not None and service_user.active:
            service_user.active = False
            service_user.disabled_at = sender.disabled_at
    audit.record(
        session,
        actor,
        AuditAction.G2P_CONNECT_SENDER_DISABLED,
        sender,
        {"sender_id": sender.sender_id},
    )
    return sender


def authenticate_client(
    session: Session, client_id: str, client_secret: str
) -> G2PConnectSender | None:
    """The enabled sender whose credentials these are, else None."""
    sender = session.scalar(
        select(G2PConnectSender).where(G2PConnectSender.sender_id == client_id.strip())
    )
    if sender is None or not sender.enabled:
        return None
    return sender if token_matches(client_secret, sender.client_secret_hash) else None


def token_endpoint_secret(sender: G2PConnectSender) -> str | None:
    """The client secret of the sender's own token endpoint (for our callbacks), decrypted."""
    stored = sender.token_client_secret_encrypted
    return decrypt_secret(get_settings().secret(), stored) if stored else None
