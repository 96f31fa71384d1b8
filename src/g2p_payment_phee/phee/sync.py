"""Status sync and reconciliation (SPEC 3.4): PHEE's word on each transfer, applied in bulk.

Per submitted batch: read the summary; when it changed since the last sync (or when it last
said "finished" while payments stayed open), page through the details (outside any
transaction), map each transfer to its payment by ``clientCorrelationId`` and reconcile in one
bulk update — COMPLETED → paid, FAILED/REJECTED/ABORTED/EXCEPTION → failed with PHEE's reason;
anything else leaves the payment as it is. Final payments never change. Surprises (unknown ids,
other batches' ids, unknown statuses, amounts that differ from what was sent, unreadable rows,
a payment listed twice with different outcomes, an outcome contradicting a final payment) are
recorded on the batch and reported; they never stop the run and never move a payment to a
wrong final state.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee import audit
from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_payments, refresh_batches
from g2p_payment_phee.payments.reports import BatchSyncResult, SyncReport
from g2p_payment_phee.payments.states import BatchState, PaymentState, PaymentStatus
from g2p_payment_phee.phee.client import PheeClient
from g2p_payment_phee.phee.details import Transfer
from g2p_payment_phee.phee.errors import PheeError
from g2p_payment_phee.phee.wire import BatchSummary
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

if TYPE_CHECKING:
    from g2p_payment_phee.phee.manager import PheeManager

log = logging.getLogger(__name__)
KEEP_PROBLEMS = 50


def sync_batches(
    factory: sessionmaker[Session],
    actor: User | None,
    manager: PheeManager,
    batch_ids: Sequence[uuid.UUID],
    *,
    client: PheeClient | None = None,
    force: bool = False,
) -> SyncReport:
    """Sync each submitted batch; ``force`` reads details even if the summary did not change.

    ``actor`` None is the system itself (a job, a verified callback)."""
    if actor is not None:
        authorize(actor, Permission.VIEW)
    report = SyncReport()
    own = client is None
    hub = client or manager.client()
    try:
        for batch_id in batch_ids:
            report.results.append(_sync_one(factory, actor, hub, batch_id, force=force))
    finally:
        if own:
            hub.close()
    return report


def _sync_one(
    factory: sessionmaker[Session],
    actor: User | None,
    hub: PheeClient,
    batch_id: uuid.UUID,
    *,
    force: bool,
) -> BatchSyncResult:
    with unit_of_work(factory) as session:
        batch = session.get(PaymentBatch, batch_id)
        if batch is None or batch.state is not BatchState.SUBMITTED or not batch.phee_batch_id:
            state = "missing" if batch is None else batch.state
            return BatchSyncResult(
                str(batch_id) if batch is None else batch.name,
                unchanged=True,
                error=f"not syncable ({state})",
            )
        name, phee_id, seen = (
            batch.name,
            batch.phee_batch_id,
            (batch.last_response or {}).get("summary"),
        )
    result = BatchSyncResult(name)
    try:
        summary = hub.batch_summary(phee_id)
        fingerprint = _fingerprint(summary)
        if fingerprint == seen and not force:
            result.unchanged = True
            return result
        transfers, problems = _read_details(hub, phee_id)
    except PheeError as error:
        result.error = f"{error.message} [{error.endpoint}, status {error.status}]"
        log.warning("sync of batch %s: %s", name, result.error)
        return result
    result.problems.extend(problems)
    with unit_of_work(factory) as session:
        _apply(session, actor, batch_id, transfers, result)
        batch = session.get(PaymentBatch, batch_id)
        assert batch is not None
        result.completed = batch.state is BatchState.COMPLETED
        # A summary that says "finished" while payments stay open means the details lag behind
        # (or lack rows): it is not remembered, so that the next sync reads the details again.
        lagging = summary.is_finished and not result.completed
        batch.last_response = {
            "summary": None if lagging else fingerprint,
            "problems": result.problems[:KEEP_PROBLEMS],
        }
    return result


def _fingerprint(summary: BatchSummary) -> str:
    """What changes when PHEE's view of the batch changes."""
    return f"{summary.total}/{summary.ongoing}/{summary.successful}/{summary.failed}"


def _read_details(hub: PheeClient, phee_id: str) -> tuple[list[Transfer], list[str]]:
    listing = hub.batch_details(phee_id)
    transfers = list(listing)
    problems = [f"detail page {p.page} row {p.row}: {p.reason}" for p in listing.problems]
    return transfers, problems


def _apply(
    session: Session,
    actor: User | None,
    batch_id: uuid.UUID,
    transfers: list[Transfer],
    result: BatchSyncResult,
) -> None:
    payments = _batch_payments(session, batch_id)
    found = (_outcome(transfer, payments, result) for transfer in transfers)
    outcomes = _one_per_payment([o for o in found if o is not None], result)
    changed = reconcile_payments(session, outcomes)
    result.paid = sum(1 for o in outcomes if o.status is PaymentStatus.PAID)
    result.failed = len(outcomes) - result.paid
    completed = refresh_batches(session, actor, [batch_id])
    batch = session.get(PaymentBatch, batch_id)
    audit.record(
        session,
        actor,
        "batch.synced",
        batch,
        {
            "reconciled": changed,
            "paid": result.paid,
            "failed": result.failed,
            "completed": bool(completed),
            "problems": len(result.problems),
        },
    )


def _one_per_payment(outcomes: list[Outcome], result: BatchSyncResult) -> list[Outcome]:
    """A payment listed twice (pages shift while PHEE writes) is applied once; listed with two
    different outcomes, it is not applied at all: nobody guesses which one is true."""
    chosen: dict[uuid.UUID, Outcome | None] = {}
    for outcome in outcomes:
        pid = outcome.payment_id
        if pid not in chosen:
            chosen[pid] = outcome
            continue
        seen = chosen[pid]
        if seen is not None and _story(seen) != _story(outcome):
            chosen[pid] = None
            result.problems.append(
                f"payment {pid}: PHEE lists it twice, {_story(seen)} and {_story(outcome)}; "
                "left as is"
            )
    return [outcome for outcome in chosen.values() if outcome is not None]


def _story(outcome: Outcome) -> str:
    if outcome.status is PaymentStatus.PAID:
        return f"paid {outcome.amount_paid}"
    return f"failed ({outcome.reason})"


_Known = tuple[PaymentState, PaymentStatus | None, Decimal]


def _batch_payments(session: Session, batch_id: uuid.UUID) -> dict[str, _Known]:
    rows = session.execute(
        select(Payment.id, Payment.state, Payment.status, Payment.amount_issued).where(
            Payment.batch_id == batch_id
        )
    ).tuples()
    return {str(pid): (state, status, amount) for pid, state, status, amount in rows}


def _outcome(
    transfer: Transfer, payments: dict[str, _Known], result: BatchSyncResult
) -> Outcome | None:
    key = transfer.client_correlation_id.strip().strip('"').lower()
    known = payments.get(key)
    if known is None:
        result.problems.append(
            f"transfer for unknown payment {transfer.client_correlation_id!r} ignored"
        )
        return None
    state, status, issued = known
    if not (transfer.is_completed or transfer.is_failed):
        if transfer.status not in {"IN_PROGRESS", "UNKNOWN"}:
            result.problems.append(
                f"payment {key}: status {transfer.status!r} not understood; left as is"
            )
        return None
    if state is PaymentState.RECONCILED:
        if (status is PaymentStatus.PAID) != transfer.is_completed:
            result.problems.append(
                f"payment {key}: PHEE now reports {transfer.status}, but it is final as "
                f"{status}; left as is"
            )
        return None
    if transfer.is_failed:
        reason = transfer.error_information or f"PHEE status {transfer.status}"
        return Outcome(
            uuid.UUID(key),
            PaymentStatus.FAILED,
            reason=reason,
            transaction_id=transfer.transaction_id,
            settled_at=transfer.completed_at,
        )
    amount = transfer.amount if transfer.amount is not None else issued
    if amount != issued:
        sent = f"{issued.normalize():f}"
        result.problems.append(f"payment {key}: PHEE paid {amount:f}, {sent} was sent")
    return Outcome(
        uuid.UUID(key),
        PaymentStatus.PAID,
        amount,
        transaction_id=transfer.transaction_id,
        settled_at=transfer.completed_at,
    )
