"""PHEE's batch callback (SPEC 5.5): verified by a per-batch secret, tolerant, triggers a sync.

PHEE POSTs ``{"clientCorrelationId", "batchId", "message"}`` to the ``X-CallbackURL`` it was
given, once (maybe before the batch is final), and retries on errors. The URL carries the
batch's token; only its SHA-256 is stored, and it is compared in constant time. Whatever
happens, the caller answers 200 (a hub retrying a callback forever helps nobody). Unknown tokens
and callbacks naming another PHEE batch are ignored. A verified callback is recorded and, while
its batch is submitted, asks for an immediate sync of it; the job engine joins the sync job
already queued or running for that batch, so at most one is pending. The periodic sync stays
the fallback.

Any body is accepted: it is read as raw bytes and parsed here, and a body that is not JSON, is
nested too deeply to parse, or holds values of the wrong types is recorded as such (only string
fields are kept, truncated). Nothing in a body can raise.

A *replay* is a verified callback that can add nothing, and is ignored without a trace (no audit
event, no job):

- the same body (SHA-256 of its raw bytes, kept in the ``batch.callback`` audit event's data)
  was already recorded for this batch: PHEE's retries and duplicates, or a captured request
  sent again; or
- the batch is already final (completed or rejected): no callback can change it any more, and
  its history is in its state transitions.

The seen hashes are read from the batch's own audit events, so no extra table is needed; there
are few of them per batch (replays add none and the web route rate-limits each token).

A batch's token is derived from its id with the product's secret key, so it stays the same
across send attempts; its hash is stored when the batch is made (prepare) and, should the key
have changed since, again when the batch is claimed for sending.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction, AuditEvent
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.security import hash_token

log = logging.getLogger(__name__)
MAX_TOKEN_LENGTH = 200
FINAL_BATCH_STATES = frozenset({BatchState.COMPLETED, BatchState.REJECTED})
CALLBACK_ACTION = AuditAction.BATCH_CALLBACK
REPLAY = "replay: nothing to do"
API_PREFIX = "/api/v1"  # where the web application serves its API, the callback route too
CALLBACK_PATH = f"{API_PREFIX}/phee/callback"


def callback_key() -> bytes:
    """The key batch callback tokens are derived with: the product's secret key."""
    return get_settings().secret().encode("utf-8")


def callback_token(batch_id: uuid.UUID, key: bytes | None = None) -> str:
    """The batch's callback secret: stable across send attempts, unguessable without the key
    (``callback_key()`` unless given, for many batches at once)."""
    digest = hmac.new(key or callback_key(), f"phee-callback:{batch_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode("ascii").rstrip("=")


def callback_url(base_url: str, batch_id: uuid.UUID) -> str:
    """The ``X-CallbackURL`` of a batch: ``<application>/api/v1/phee/callback/<token>``.

    ``base_url`` is the application's address as the operator typed it, with or without a
    trailing ``/`` or ``/api/v1`` (``https://g2p.example.org``, ``https://x/g2p/api/v1/``):
    the API's prefix is added once, where the callback route is served.
    """
    base = base_url.rstrip("/")
    if base.endswith(API_PREFIX):
        base = base[: -len(API_PREFIX)]
    return f"{base}{CALLBACK_PATH}/{callback_token(batch_id)}"


def callback_token_hash(batch_id: uuid.UUID, key: bytes | None = None) -> str:
    """What is stored of the batch's callback token (and looked up when a callback comes)."""
    return hash_token(callback_token(batch_id, key))


MALFORMED_TOKEN = "malformed token"  # noqa: S105 (a reason, not a secret)
UNKNOWN_TOKEN = "unknown token"  # noqa: S105 (a reason, not a secret)
UNKNOWN_TOKENS = frozenset({MALFORMED_TOKEN, UNKNOWN_TOKEN})
"""The reasons a callback names no batch we issued a token for."""


@dataclass(frozen=True)
class CallbackVerdict:
    """Whether the callback was accepted, and which batch to sync."""

    accepted: bool
    reason: str
    batch_id: uuid.UUID | None = None


def receive_callback(session: Session, token: str, raw: bytes) -> CallbackVerdict:
    """Verify and record a callback (its raw body); the caller syncs ``batch_id`` after
    committing. Never raises for anything in the body; a replay records nothing."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return CallbackVerdict(False, MALFORMED_TOKEN)
    digest = hash_token(token)
    batch = session.scalar(select(PaymentBatch).where(PaymentBatch.callback_token_hash == digest))
    if batch is None or not hmac.compare_digest(batch.callback_token_hash or "", digest):
        log.warning("PHEE callback with an unknown token ignored")
        return CallbackVerdict(False, UNKNOWN_TOKEN)
    details = _summary(_parse(raw))
    if details.get("batchId") and batch.phee_batch_id and details["batchId"] != batch.phee_batch_id:
        log.warning(
            "callback for batch %s names PHEE batch %s: ignored", batch.name, details["batchId"]
        )
        return CallbackVerdict(False, "batch id does not match")
    body_hash = hashlib.sha256(raw).hexdigest()
    if batch.state in FINAL_BATCH_STATES or body_hash in _seen_hashes(session, batch):
        return CallbackVerdict(True, REPLAY)
    audit.record(session, None, CALLBACK_ACTION, batch, {**details, "body_sha256": body_hash})
    if batch.state is not BatchState.SUBMITTED:
        return CallbackVerdict(
            True, _("batch is {state}: nothing to sync").format(state=batch.state), None
        )
    return CallbackVerdict(True, "sync requested", batch.id)


def _seen_hashes(session: Session, batch: PaymentBatch) -> set[str]:
    rows = session.scalars(
        select(AuditEvent.data).where(
            AuditEvent.subject_type == PaymentBatch.__tablename__,
            AuditEvent.subject_id == batch.id,
            AuditEvent.action == CALLBACK_ACTION,
        )
    )
    return {str(data.get("body_sha256")) for data in rows if isinstance(data, dict)}


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's limit
        return None


def _summary(body: Any) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"body": "not a JSON object"}
    keep = ("clientCorrelationId", "batchId", "message")
    # Only strings: str() of a nested or huge value could itself fail or be expensive.
    return {
        key: body[key][:300] if isinstance(body[key], str) else f"<{type(body[key]).__name__}>"
        for key in keep
        if key in body
    }
