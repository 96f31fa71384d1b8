"""``/g2p-connect/senders``: the MIS registered to send disbursements (admins)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field, SecretStr

from g2p_payment_phee.g2p_connect import senders as service
from g2p_payment_phee.g2p_connect.models import G2PConnectSender
from g2p_payment_phee.programs.service import get_program
from g2p_payment_phee.web.api.schemas import PublicModel
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/g2p-connect/senders", tags=["G2P Connect senders"])


class SenderCreate(BaseModel):
    """A new sender. ``public_key``: PEM of its ed25519 key (its requests must then be
    signed); ``token_url``, ``token_client_id`` and ``token_client_secret``: its own oauth2
    token endpoint, for our callbacks (all three or none)."""

    sender_id: str = Field(min_length=1, max_length=99)
    program: str = Field(min_length=1, max_length=200, description="Program name or id")
    callback_url: str | None = Field(default=None, max_length=2000)
    public_key: str | None = Field(default=None, max_length=4000)
    auto_approve: bool = False
    token_url: str | None = Field(default=None, max_length=2000)
    token_client_id: str | None = Field(default=None, max_length=200)
    token_client_secret: SecretStr | None = None


class SenderPublic(PublicModel):
    """A sender (never its secrets)."""

    id: uuid.UUID
    sender_id: str
    program: str
    callback_url: str | None
    signed: bool
    auto_approve: bool
    token_url: str | None
    token_client_id: str | None
    enabled: bool
    created_at: datetime
    disabled_at: datetime | None

    @classmethod
    def of(cls, sender: G2PConnectSender) -> SenderPublic:
        return cls(
            id=sender.id,
            sender_id=sender.sender_id,
            program=sender.program.name,
            callback_url=sender.callback_url,
            signed=sender.public_key_pem is not None,
            auto_approve=sender.auto_approve,
            token_url=sender.token_url,
            token_client_id=sender.token_client_id,
            enabled=sender.enabled,
            created_at=sender.created_at,
            disabled_at=sender.disabled_at,
        )


class SenderCreated(SenderPublic):
    """A new sender and its client secret: shown in this answer only."""

    client_secret: str


class SendersPublic(BaseModel):
    """Every sender, enabled first (a short list: not paginated)."""

    items: list[SenderPublic]


@router.get("")
def list_senders(user: ApiUser, session: DbSession) -> SendersPublic:
    """Every sender (admins)."""
    rows = service.list_senders(session, user)
    return SendersPublic(items=[SenderPublic.of(s) for s in rows])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_sender(body: SenderCreate, user: ApiUser, session: DbSession) -> SenderCreated:
    """Register a sender (admins); 409 when the sender id is taken. The answer holds the
    client secret, which is never shown again."""
    secret = body.token_client_secret.get_secret_value() if body.token_client_secret else None
    request = service.SenderRequest(
        sender_id=body.sender_id,
        program=get_program(session, body.program),
        callback_url=body.callback_url,
        public_key_pem=body.public_key,
        auto_approve=body.auto_approve,
        token_url=body.token_url,
        token_client_id=body.token_client_id,
        token_client_secret=secret,
    )
    sender, client_secret = service.add_sender(session, user, request)
    return SenderCreated(**SenderPublic.of(sender).model_dump(), client_secret=client_secret)


@router.post("/{sender_id}/disable")
def disable_sender(sender_id: str, user: ApiUser, session: DbSession) -> SenderPublic:
    """Refuse the sender's tokens and requests from now on (admins); what it sent is still
    paid. Disabling a disabled sender changes nothing."""
    return SenderPublic.of(service.disable_sender(session, user, sender_id))
