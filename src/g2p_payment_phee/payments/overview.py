"""A cycle's payments at a glance, from its batches' counters (fast at a million payments).

Each batch carries issued / sent / paid / failed counts and amounts, kept by send and sync;
adding up a cycle's few thousand batches answers in milliseconds, where grouping a million
payments would not. Payments are read only where the counters cannot tell: those in no batch
(``create_batch`` off), and the open ones of batches partly paid (the amount issued of what is
still open there).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.states import BatchState, PaymentState
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize


@dataclass(frozen=True)
class CycleSummary:
    """Batches by state and payments by outcome, with amounts, for one cycle."""

    batches: dict[BatchState, int] = field(default_factory=dict)
    issued: tuple[int, Decimal] = (0, Decimal(0))
    sent: tuple[int, Decimal] = (0, Decimal(0))
    paid: tuple[int, Decimal] = (0, Decimal(0))
    failed: tuple[int, Decimal] = (0, Decimal(0))

    @property
    def batch_count(self) -> int:
        """How many batches the cycle has."""
        return sum(self.batches.values())

    @property
    def final(self) -> int:
        """Payments reconciled (paid or failed)."""
        return self.paid[0] + self.failed[0]

    @property
    def open(self) -> int:
        """Payments not yet final."""
        return self.issued[0] - self.final


def cycle_summary(session: Session, actor: User, cycle_id: uuid.UUID) -> CycleSummary:
    """Totals of the cycle's batches: one grouped query over ``payment_batches``."""
    authorize(actor, Permission.VIEW)
    b = PaymentBatch
    rows = session.execute(
        select(
            b.state,
            func.count(),
            func.coalesce(func.sum(b.issued_count), 0),
            func.coalesce(func.sum(b.issued_amount), 0),
            func.coalesce(func.sum(b.sent_count), 0),
            func.coalesce(func.sum(b.sent_amount), 0),
            func.coalesce(func.sum(b.paid_count), 0),
            func.coalesce(func.sum(b.paid_amount), 0),
            func.coalesce(func.sum(b.failed_count), 0),
            func.coalesce(func.sum(b.failed_amount), 0),
        )
        .where(b.cycle_id == cycle_id)
        .group_by(b.state)
    ).tuples()
    batches: dict[BatchState, int] = {}
    counts = [0, 0, 0, 0]
    amounts = [Decimal(0)] * 4
    for row in rows:
        values: tuple[Any, ...] = tuple(row)[2:]
        batches[row[0]] = int(row[1])
        if row[0] is BatchState.CANCELLED:  # its payments are cancelled: nothing to pay
            continue
        for index in range(4):
            counts[index] += int(values[2 * index])
            amounts[index] += Decimal(values[2 * index + 1])
    issued, sent, paid, failed = zip(counts, amounts, strict=True)
    return CycleSummary(batches, issued, sent, paid, failed)


@dataclass(frozen=True)
class CycleBatchTotals:
    """Batches per state, and payments per state — ``issued`` (not sent), ``sent`` (not final
    yet), ``paid``, ``failed`` — with amounts: the amount paid for ``paid``, the amount issued
    for the others. Only states that have payments are present."""

    batches: dict[BatchState, int]
    payments: dict[str, tuple[int, Decimal]]


def cycle_payment_totals(session: Session, cycle: Cycle) -> CycleBatchTotals:
    """The cycle's totals from its batches' counters, in a few queries whatever its size."""
    b, p = PaymentBatch, Payment
    still_open = b.sent_count - b.paid_count - b.failed_count
    keys = ("issued", "sent", "paid", "failed")
    counts = dict.fromkeys(keys, 0)
    amounts = dict.fromkeys(keys, Decimal(0))
    batches: dict[BatchState, int] = {}
    rows = session.execute(
        select(
            b.state,
            func.count(),
            func.coalesce(func.sum(b.issued_count - b.sent_count), 0),
            func.coalesce(func.sum(b.issued_amount - b.sent_amount), 0),
            func.coalesce(func.sum(still_open), 0),
            # The open amount of batches nothing of which is paid: sent less failed.
            func.coalesce(func.sum(b.sent_amount - b.failed_amount).filter(b.paid_count == 0), 0),
            func.coalesce(func.sum(b.paid_count), 0),
            func.coalesce(func.sum(b.paid_amount), 0),
            func.coalesce(func.sum(b.failed_count), 0),
            func.coalesce(func.sum(b.failed_amount), 0),
        )
        .where(b.cycle_id == cycle.id)
        .group_by(b.state)
    ).tuples()
    for row in rows:
        batches[row[0]] = int(row[1])
        if row[0] is BatchState.CANCELLED:
            continue
        values: tuple[Any, ...] = tuple(row)[2:]
        for index, key in enumerate(keys):
            counts[key] += int(values[2 * index])
            amounts[key] += Decimal(values[2 * index + 1])
    # Batches partly paid with payments still open: their paid amount is what was paid, so the
    # amount issued of the open ones is read from those payments (a few batches, by index).
    # (their ids first: with none, as when a cycle is settled, nothing more is read)
    partly_paid = session.scalars(
        select(b.id).where(b.cycle_id == cycle.id, b.paid_count > 0, still_open > 0)
    ).all()
    for start in range(0, len(partly_paid), 500):
        open_issued = session.scalar(
            select(func.coalesce(func.sum(p.amount_issued), 0)).where(
                p.batch_id.in_(partly_paid[start : start + 500]), p.state == PaymentState.SENT
            )
        )
        amounts["sent"] += Decimal(open_issued or 0)
    unbatched = session.execute(
        select(p.state, p.status, func.count(), func.sum(p.amount_issued), func.sum(p.amount_paid))
        .where(p.cycle_id == cycle.id, p.batch_id.is_(None), p.state != PaymentState.CANCELLED)
        .group_by(p.state, p.status)
    ).tuples()
    for payment_state, status, count, issued, paid in unbatched:
        key = payment_state.value
        if payment_state is PaymentState.RECONCILED and status is not None:
            key = status.value
        counts[key] += int(count)
        amounts[key] += Decimal((paid if key == "paid" else issued) or 0)
    payments = {key: (counts[key], amounts[key]) for key in keys if counts[key]}
    return CycleBatchTotals(batches, payments)
