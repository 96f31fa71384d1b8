"""send_payments (SPEC 3.3, 2.3): submit batches to PHEE, never twice, never blindly.

Each batch goes through three short transactions, because a hub call must never happen inside
an open one: (1) *claim* — a conditional update moves it to ``sending`` (so no other process
sends it) and counts the attempt; (2) the upload, outside any transaction; (3) the answer is
recorded: ``submitted`` (payments ``sent``), ``rejected`` (PHEE refused it; it can be sent
again once fixed) or ``outcome_unknown`` (it may have reached PHEE). A batch in
``outcome_unknown`` — or left in ``sending`` by a process that died — is first looked up at
PHEE by its correlation id: found, it is ``submitted`` without a resend; resent only when PHEE
provably does not have it, with the same correlation id and the same file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import unit_of_work, utcnow
from g2p_payment_phee.errors import Conflict, G2PError, InvalidTransition, NotFound
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.reconcile import refresh_batches
from g2p_payment_phee.payments.reports import BatchSendResult, SendReport
from g2p_payment_phee.payments.service import batch_file
from g2p_payment_phee.payments.states import BatchState, mark_batch_payments_sent, set_batch_state
from g2p_payment_phee.phee.client import PheeClient, UploadAccepted
from g2p_payment_phee.phee.errors import PheeError, PheeRejected
from g2p_payment_phee.security import hash_token
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

if TYPE_CHECKING:
    from g2p_payment_phee.phee.manager import PheeManager

log = logging.getLogger(__name__)
SENDABLE = (BatchState.PREPARED, BatchState.REJECTED, BatchState.OUTCOME_UNKNOWN)
STALE_SENDING = timedelta(minutes=10)


def callback_token(batch_id: uuid.UUID) -> str:
    """The batch's callback secret: stable across send attempts, unguessable without the key."""
    key = get_settings().secret().encode("utf-8")
    digest = hmac.new(key, f"phee-callback:{batch_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def worker_name() -> str:
    """Who claims a batch: host and process, for people reading the batch."""
    import os

    return f"{socket.gethostname()}:{os.getpid()}"


def send_batches(
    factory: sessionmaker[Session],
    actor: User,
    manager: PheeManager,
    batch_ids: Sequence[uuid.UUID],
    *,
    client: PheeClient | None = None,
) -> SendReport:
    """Send (or resolve) each batch; one batch's failure never stops the others."""
    authorize(actor, Permission.SEND_PAYMENTS)
    report = SendReport()
    own = client is None
    hub = client or manager.client()
    try:
        for batch_id in batch_ids:
            report.results.append(_send_one(factory, actor, manager, hub, batch_id))
    finally:
        if own:
            hub.close()
    return report


def _send_one(
    factory: sessionmaker[Session],
    actor: User,
    manager: PheeManager,
    hub: PheeClient,
    batch_id: uuid.UUID,
) -> BatchSendResult:
    claimed = _claim(factory, actor, batch_id)
    if isinstance(claimed, BatchSendResult):
        return claimed
    name, was, correlation_id, created_at = claimed
    if was is BatchState.OUTCOME_UNKNOWN:
        found = _lookup(factory, actor, hub, batch_id, name, correlation_id, created_at)
        if found is not None:
            return found
    try:
        accepted = _upload(factory, actor, manager, hub, batch_id, correlation_id)
    except PheeError as error:
        return _record_failure(factory, actor, batch_id, name, error)
    except Exception as error:
        # Anything else (a file or header that cannot be sent, a bug) must neither leave the
        # batch claimed in ``sending`` nor stop the other batches: it is recorded as unknown,
        # so that the next attempt looks it up first.
        return _record_failure(factory, actor, batch_id, name, _upload_broke(error, batch_id))
    return _record_accepted(factory, actor, batch_id, name, accepted.phee_batch_id, accepted.raw)


def _upload(
    factory: sessionmaker[Session],
    actor: User,
    manager: PheeManager,
    hub: PheeClient,
    batch_id: uuid.UUID,
    correlation_id: str,
) -> UploadAccepted:
    with unit_of_work(factory) as session:
        batch = _batch(session, batch_id)
        data = batch_file(session, actor, batch).data
        file_name = batch.file_name
    return hub.upload_batch(
        file_name=file_name,
        csv_bytes=data,
        correlation_id=correlation_id,
        callback_url=_callback_url(manager, batch_id),
    )


def _upload_broke(error: Exception, batch_id: uuid.UUID) -> PheeError:
    """The error, as a PheeError that may have delivered, without the batch's callback token."""
    if isinstance(error, G2PError):
        reason = error.message
    else:
        log.exception("sending batch %s failed unexpectedly", batch_id)
        reason = f"{type(error).__name__}: {error}"
    reason = reason.replace(callback_token(batch_id), "[REDACTED]")
    return PheeError(
        f"the upload did not complete: {reason}", endpoint="batch upload", maybe_delivered=True
    )


def _claim(
    factory: sessionmaker[Session], actor: User, batch_id: uuid.UUID
) -> tuple[str, BatchState, str, datetime] | BatchSendResult:
    """Move the batch to ``sending`` (conditional on its state), committed before any call."""
    with unit_of_work(factory) as session:
        batch = _batch(session, batch_id)
        was = batch.state
        if was not in SENDABLE:
            return BatchSendResult(batch.name, "skipped", f"batch is {was}", batch.phee_batch_id)
        try:
            set_batch_state(
                session,
                actor,
                batch,
                BatchState.SENDING,
                {"attempt": batch.send_attempts + 1},
                claimed_by=worker_name(),
                claimed_at=utcnow(),
                send_attempts=batch.send_attempts + 1,
                callback_token_hash=hash_token(callback_token(batch.id)),
            )
        except (Conflict, InvalidTransition) as lost:
            return BatchSendResult(batch.name, "skipped", lost.message, batch.phee_batch_id)
        # The lookup window starts at the batch's creation, before its first attempt: the
        # previous claim is only the latest attempt, and an earlier one may be the one stored.
        return batch.name, was, batch.correlation_id, batch.created_at


def _lookup(
    factory: sessionmaker[Session],
    actor: User,
    hub: PheeClient,
    batch_id: uuid.UUID,
    name: str,
    correlation_id: str,
    since: datetime,
) -> BatchSendResult | None:
    """Resolve an unknown outcome: found → submitted; provably absent → None (resend)."""
    try:
        found = hub.find_batch(correlation_id, since=since)
    except PheeError as error:
        with unit_of_work(factory) as session:
            batch = _batch(session, batch_id)
            message = f"still unknown: the lookup at PHEE failed: {error.message}"
            set_batch_state(
                session,
                actor,
                batch,
                BatchState.OUTCOME_UNKNOWN,
                {"lookup": message},
                last_error=message,
            )
        return BatchSendResult(name, "outcome_unknown", message)
    if found is None:
        log.info(
            "batch %s (correlation id %s) is not at PHEE: sending it again", name, correlation_id
        )
        return None
    result = _record_accepted(
        factory, actor, batch_id, name, found.phee_batch_id, found.raw, looked_up=True
    )
    return BatchSendResult(
        name, "found_at_phee", "found by correlation id; not resent", result.phee_batch_id
    )


def _record_accepted(
    factory: sessionmaker[Session],
    actor: User,
    batch_id: uuid.UUID,
    name: str,
    phee_batch_id: str,
    raw: dict[str, object],
    *,
    looked_up: bool = False,
) -> BatchSendResult:
    with unit_of_work(factory) as session:
        batch = _batch(session, batch_id)
        set_batch_state(
            session,
            actor,
            batch,
            BatchState.SUBMITTED,
            {"phee_batch_id": phee_batch_id, "looked_up": looked_up},
            phee_batch_id=phee_batch_id,
            submitted_at=utcnow(),
            last_error=None,
            last_response=raw,
        )
        marked = mark_batch_payments_sent(session, batch)
        if marked == batch.issued_count:  # the usual case: no recount needed
            batch.sent_count, batch.sent_amount = batch.issued_count, batch.issued_amount
        else:
            refresh_batches(session, actor, [batch.id])
    return BatchSendResult(name, "submitted", "", phee_batch_id)


def _record_failure(
    factory: sessionmaker[Session], actor: User, batch_id: uuid.UUID, name: str, error: PheeError
) -> BatchSendResult:
    # Even when nothing can have reached PHEE (connection refused) the batch is recorded as
    # unknown: the next attempt starts with a lookup, which costs one read and proves it.
    rejected = isinstance(error, PheeRejected) and not error.maybe_delivered
    target = BatchState.REJECTED if rejected else BatchState.OUTCOME_UNKNOWN
    message = f"{error.message} [{error.endpoint}, status {error.status}]"
    response = {"status": error.status, "body": error.body}
    with unit_of_work(factory) as session:
        batch = _batch(session, batch_id)
        set_batch_state(
            session,
            actor,
            batch,
            target,
            {"error": message},
            last_error=message,
            last_response=response,
        )
    log.warning("batch %s: %s", name, message)
    return BatchSendResult(name, target.value, message)


def recover_stale_sending(
    session: Session, actor: User | None, older_than: timedelta = STALE_SENDING
) -> int:
    """Batches left in ``sending`` by a process that died become ``outcome_unknown`` (they may
    have reached PHEE), so that the next send looks them up first."""
    limit = utcnow() - older_than
    stale = session.scalars(
        select(PaymentBatch).where(
            PaymentBatch.state == BatchState.SENDING, PaymentBatch.claimed_at < limit
        )
    ).all()
    for batch in stale:
        message = f"left in sending by {batch.claimed_by} since {batch.claimed_at}: outcome unknown"
        set_batch_state(
            session, actor, batch, BatchState.OUTCOME_UNKNOWN, {"stale": True}, last_error=message
        )
    return len(stale)


def _callback_url(manager: PheeManager, batch_id: uuid.UUID) -> str | None:
    base = manager.settings.callback_base_url
    if not base:
        return None
    return f"{base}/phee/callback/{callback_token(batch_id)}"


def _batch(session: Session, batch_id: uuid.UUID) -> PaymentBatch:
    batch = session.get(PaymentBatch, batch_id)
    if batch is None:
        raise NotFound(f"no payment batch {batch_id}")
    return batch
