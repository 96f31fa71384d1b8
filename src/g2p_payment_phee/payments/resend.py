"""When a batch may be uploaded again (SPEC 2.3): the one place that decides.

A batch whose outcome is unknown may have reached the hub, and a hub may store an upload long
after its client gave up (a request queued behind slow work, a proxy that keeps forwarding). So
the hub's batch list not holding a batch proves its absence only once every upload of it started
at least ``G2P_UNKNOWN_OUTCOME_QUIET_SECONDS`` ago. ``PaymentBatch.last_attempt_at`` is the latest
moment an upload may have started: written before each upload (durably, so that a crash leaves
it behind), corrected to the true start with the hub's answer, or pushed to a lapsed lease's end
when the sending process died.

A send's claim on a batch is a lease its process renews while it runs. When the lease lapses,
the batch is released at once: back to the state it was claimed from when this claim's upload
never started, ``outcome_unknown`` when it may have (and then the quiet period applies).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState, set_batch_state
from g2p_payment_phee.users.models import User

SENDABLE = (BatchState.PREPARED, BatchState.REJECTED, BatchState.OUTCOME_UNKNOWN)
# Batches claimed before claims had leases: released this long after their claim.
UNLEASED_CLAIM = timedelta(minutes=10)


def quiet_until(last_attempt_at: datetime | None) -> datetime | None:
    """When the hub's silence about a batch starts to prove it absent; None: nothing was ever
    uploaded, so there is nothing to wait for."""
    if last_attempt_at is None:
        return None
    return last_attempt_at + get_settings().unknown_outcome_quiet


def may_resend(last_attempt_at: datetime | None, now: datetime | None = None) -> bool:
    """Whether a batch the hub's batch list does not hold may be uploaded again now."""
    until = quiet_until(last_attempt_at)
    return until is None or (now or utcnow()) >= until


def quiet_over() -> ColumnElement[bool]:
    """The batches whose latest upload (if any) started a quiet period ago or more: a lookup
    that does not find them proves them absent (SQL for ``may_resend``)."""
    limit = utcnow() - get_settings().unknown_outcome_quiet
    return or_(PaymentBatch.last_attempt_at.is_(None), PaymentBatch.last_attempt_at <= limit)


def duplicate_watch_start(now: datetime | None = None) -> datetime:
    """Batches uploaded since this moment are still watched for a late duplicate at the hub
    by every sync, even once their payments are final (twice the quiet period)."""
    return (now or utcnow()) - 2 * get_settings().unknown_outcome_quiet


def syncable() -> ColumnElement[bool]:
    """The batches a sync reads: submitted ones, and completed ones still watched for a late
    duplicate at the hub."""
    return or_(
        PaymentBatch.state == BatchState.SUBMITTED,
        (PaymentBatch.state == BatchState.COMPLETED)
        & (PaymentBatch.last_attempt_at >= duplicate_watch_start()),
    )


def when_text(moment: datetime, now: datetime | None = None) -> str:
    """A moment for the person at this machine: local time and how far away it is."""
    now = now or utcnow()
    local = moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    seconds = (moment - now).total_seconds()
    if seconds <= 0:
        return _("{local} (now)").format(local=local)
    minutes = int(seconds // 60) + (1 if seconds % 60 else 0)
    return _("{local} (in {minutes} min)").format(local=local, minutes=minutes)


def not_found_yet(last_attempt_at: datetime | None, now: datetime | None = None) -> str:
    """Why a batch the hub does not list yet is not uploaded again, and until when."""
    until = quiet_until(last_attempt_at)
    assert until is not None
    return (
        "not in PHEE's batch list yet, but an earlier upload may still be stored by the hub: "
        f"not resent; looked up again from {when_text(until, now)}"
    )


def lease_until(now: datetime | None = None) -> datetime:
    """The end of a claim's lease taken or renewed now."""
    return (now or utcnow()) + get_settings().send_lease


def renew_leases(session: Session, batch_ids: list[uuid.UUID], claimed_by: str) -> int:
    """Extend the leases this process holds on ``batch_ids`` (still ``sending``, still its)."""
    if not batch_ids:
        return 0
    result = session.execute(
        update(PaymentBatch)
        .where(
            PaymentBatch.id.in_(batch_ids),
            PaymentBatch.state == BatchState.SENDING,
            PaymentBatch.claimed_by == claimed_by,
        )
        .values(lease_until=lease_until())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


def release_lapsed_claims(
    session: Session, actor: User | None, now: datetime | None = None
) -> list[PaymentBatch]:
    """Batches whose send claim lapsed (its process died): back to where they were claimed from
    when this claim's upload never started, else ``outcome_unknown`` with the lease's end as the
    latest moment the upload may have started. Returns the batches released, in their new
    state."""
    now = now or utcnow()
    lapsed = session.scalars(
        select(PaymentBatch)
        .where(
            PaymentBatch.state == BatchState.SENDING,
            or_(
                PaymentBatch.lease_until < now,
                PaymentBatch.lease_until.is_(None)
                & (PaymentBatch.claimed_at < now - UNLEASED_CLAIM),
            ),
        )
        .with_for_update(skip_locked=True)
    ).all()
    for batch in lapsed:
        _release(session, actor, batch)
    return list(lapsed)


def _release(session: Session, actor: User | None, batch: PaymentBatch) -> None:
    lease_end = batch.lease_until or (batch.claimed_at or utcnow()) + UNLEASED_CLAIM
    started = batch.lease_until is None or (
        batch.last_attempt_at is not None
        and batch.claimed_at is not None
        and batch.last_attempt_at >= batch.claimed_at
    )
    data = {"lapsed_claim": batch.claimed_by, "lease_until": lease_end.isoformat()}
    if not started and batch.claimed_from is not None:
        message = _("claimed by {claimed_by}, which stopped before uploading it").format(
            claimed_by=batch.claimed_by
        )
        set_batch_state(
            session, actor, batch, batch.claimed_from, data, lease_until=None, last_error=message
        )
        return
    message = _(
        "claimed by {claimed_by}, which stopped while it may have been "
        "uploading it (claim lapsed {when_text}): outcome unknown"
    ).format(claimed_by=batch.claimed_by, when_text=when_text(lease_end))
    latest = max(lease_end, batch.last_attempt_at or lease_end)
    set_batch_state(
        session,
        actor,
        batch,
        BatchState.OUTCOME_UNKNOWN,
        {**data, "upload_may_have_started": True},
        lease_until=None,
        last_attempt_at=latest,
        last_error=message,
    )


@dataclass(frozen=True)
class BatchWait:
    """Why a batch in ``sending`` or ``outcome_unknown`` waits, and until when."""

    batch: str
    state: BatchState
    reason: str
    until: datetime | None


def why_waiting(batch: PaymentBatch, now: datetime | None = None) -> BatchWait | None:
    """What a person should be told about a batch that is neither sent nor sendable now."""
    now = now or utcnow()
    if batch.state is BatchState.SENDING:
        until = batch.lease_until or (batch.claimed_at or now) + UNLEASED_CLAIM
        reason = _(
            "being sent by {claimed_by}; if that process stops, the batch is "
            "released when its claim lapses, {when_text}"
        ).format(claimed_by=batch.claimed_by, when_text=when_text(until, now))
        return BatchWait(batch.name, batch.state, reason, until)
    if batch.state is not BatchState.OUTCOME_UNKNOWN:
        return None
    quiet = quiet_until(batch.last_attempt_at)
    if quiet is not None and quiet > now:
        reason = _(
            "the hub may still store an earlier upload: it is looked up, never resent, until {when}"
        ).format(when=when_text(quiet, now))
        return BatchWait(batch.name, batch.state, reason, quiet)
    reason = _("looked up at PHEE by its correlation id at the next send; resent only if absent")
    return BatchWait(batch.name, batch.state, reason, None)


def waiting_batches(session: Session, cycle_id: uuid.UUID, limit: int = 100) -> list[BatchWait]:
    """The cycle's batches in ``sending`` or ``outcome_unknown``, each with why it waits."""
    query = (
        select(PaymentBatch)
        .where(
            PaymentBatch.cycle_id == cycle_id,
            PaymentBatch.state.in_((BatchState.SENDING, BatchState.OUTCOME_UNKNOWN)),
        )
        .order_by(PaymentBatch.sequence)
        .limit(limit)
    )
    now = utcnow()
    waits = (why_waiting(batch, now) for batch in session.scalars(query))
    return [wait for wait in waits if wait is not None]
