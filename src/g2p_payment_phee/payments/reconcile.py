"""Reconcile payments with their outcomes, in bulk, keeping their batches' counters.

A reconciled payment is final: every update here is conditional on the payment not being
reconciled yet, so a late, repeated or contradictory outcome changes nothing. The outcomes are
written to a temporary table (``bulk.RowWriter``: ``COPY`` on PostgreSQL) and applied with one
``UPDATE … FROM`` per chunk, through ``counters.update_counted``, which adds what changed to the
batches' counters. The columns it writes are in no index (``live`` only for failures), so on
PostgreSQL most of these updates are HOT updates. Completed batches are moved set-based.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, MetaData, String, Table, Text, Uuid, func, select, update
from sqlalchemy.orm import Session

from g2p_payment_phee.bulk import RowWriter
from g2p_payment_phee.db import Money, UTCDateTime, utcnow
from g2p_payment_phee.payments.counters import BatchCounts, count_batches, update_counted
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentState,
    PaymentStatus,
    move_batches,
)
from g2p_payment_phee.users.models import User

__all__ = [
    "BatchCounts",
    "Outcome",
    "complete_batches",
    "count_batches",
    "reconcile_batches",
    "reconcile_payments",
    "refresh_batches",
]

CHUNK = 50_000
NO_REASON = "failed without a reason from the hub"

# The outcomes of one chunk, on the transaction's connection only.
_INCOMING = Table(
    "reconcile_in",
    MetaData(),
    Column("id", Uuid),
    Column("status", String(30)),
    Column("amount_paid", Money()),
    Column("reason", Text),
    Column("txid", Text),
    Column("settled_at", UTCDateTime()),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
_INCOMING_COLUMNS = tuple(column.name for column in _INCOMING.columns)


@dataclass(frozen=True)
class Outcome:
    """What happened to one payment, as the hub (or a results file) says."""

    payment_id: uuid.UUID
    status: PaymentStatus
    amount_paid: Decimal | None = None
    reason: str | None = None
    transaction_id: str | None = None
    settled_at: datetime | None = None


def reconcile_payments(
    session: Session, outcomes: Sequence[Outcome], batch_ids: Sequence[uuid.UUID] | None = None
) -> int:
    """Make the payments final with their outcome (finals stay) and keep their batches'
    counters; returns how many changed. ``batch_ids``: only payments of these batches."""
    changed = 0
    for start in range(0, len(outcomes), CHUNK):
        changed += _reconcile_chunk(session, outcomes[start : start + CHUNK], batch_ids)
    return changed


def _rows(outcomes: Sequence[Outcome], now: datetime) -> Iterator[tuple[object, ...]]:
    """The outcomes as rows of ``reconcile_in``. A sync writes a million of them: ids go as hex
    text, and each amount is formatted once."""
    amounts: dict[Decimal, str] = {}
    paid = PaymentStatus.PAID
    for o in outcomes:
        at = o.settled_at or now
        if o.status is paid:
            value = o.amount_paid
            amount = None if value is None else amounts.get(value)
            if value is not None and amount is None:
                amount = amounts[value] = str(value)
            yield (o.payment_id.hex, "paid", amount, None, o.transaction_id, at)
        else:
            reason = o.reason or NO_REASON
            yield (o.payment_id.hex, o.status.value, None, reason, o.transaction_id, at)


def _reconcile_chunk(
    session: Session, outcomes: Sequence[Outcome], batch_ids: Sequence[uuid.UUID] | None
) -> int:
    """The outcomes into a new temporary table, then one counted ``UPDATE … FROM``."""
    connection = session.connection()
    connection.exec_driver_sql("DROP TABLE IF EXISTS reconcile_in")
    _INCOMING.create(connection)
    with RowWriter(connection, _INCOMING, _INCOMING_COLUMNS) as writer:
        writer.write_many(_rows(outcomes, utcnow()))
    payments, incoming = Payment.__table__, _INCOMING
    assert isinstance(payments, Table)
    statement = (
        update(payments)
        .where(
            payments.c.id == incoming.c.id,
            # not final yet: a cancelled payment never reached the hub and stays cancelled
            payments.c.state.in_([PaymentState.ISSUED.value, PaymentState.SENT.value]),
        )
        .values(
            state=PaymentState.RECONCILED.value,
            status=incoming.c.status,
            live=incoming.c.status != PaymentStatus.FAILED.value,
            amount_paid=incoming.c.amount_paid,
            failure_reason=incoming.c.reason,
            phee_transaction_id=func.coalesce(incoming.c.txid, payments.c.phee_transaction_id),
            settled_at=incoming.c.settled_at,
        )
    )
    if batch_ids is not None:
        statement = statement.where(payments.c.batch_id.in_(list(batch_ids)))
    changed = update_counted(session, statement)
    connection.exec_driver_sql("DROP TABLE reconcile_in")
    return changed


def reconcile_batches(
    session: Session,
    actor: User | None,
    outcomes: Sequence[Outcome],
    batch_ids: Sequence[uuid.UUID],
) -> tuple[int, list[PaymentBatch]]:
    """Reconcile outcomes of these batches' payments (outcomes of other payments are
    ignored), keep the batches' counters and complete the batches whose payments are all
    final; returns how many payments changed and the batches completed now."""
    ids = list(dict.fromkeys(batch_ids))
    changed = reconcile_payments(session, outcomes, ids)
    return changed, complete_batches(session, actor, ids)


def complete_batches(
    session: Session, actor: User | None, batch_ids: Sequence[uuid.UUID]
) -> list[PaymentBatch]:
    """Submitted batches whose counters say every payment is final move to completed (one
    set-based transition); returns them."""
    finished: list[uuid.UUID] = []
    B = PaymentBatch
    for start in range(0, len(batch_ids), 1000):
        query = select(B.id).where(
            B.id.in_(list(batch_ids[start : start + 1000])),
            B.state == BatchState.SUBMITTED,
            B.paid_count + B.failed_count >= B.issued_count,
        )
        finished.extend(session.scalars(query))
    return _complete(session, actor, finished)


def _complete(
    session: Session, actor: User | None, finished: list[uuid.UUID]
) -> list[PaymentBatch]:
    completed = move_batches(
        session,
        actor,
        finished,
        BatchState.SUBMITTED,
        BatchState.COMPLETED,
        completed_at=utcnow(),
    )
    if not completed:
        return []
    query = select(PaymentBatch).where(PaymentBatch.id.in_(completed))
    return list(session.scalars(query.order_by(PaymentBatch.sequence)))


def refresh_batches(
    session: Session, actor: User | None, batch_ids: Iterable[uuid.UUID]
) -> list[PaymentBatch]:
    """Submitted batches whose payments are all final complete (the counters are kept by every
    writer of payments: ``counters.update_counted``); returns the batches that completed now."""
    return complete_batches(session, actor, list(dict.fromkeys(batch_ids)))
