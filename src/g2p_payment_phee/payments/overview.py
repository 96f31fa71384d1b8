"""A cycle's payments at a glance, from its batches' counters (fast at a million payments).

Each batch carries issued / sent / paid / failed counts and amounts, kept by send and sync;
adding up a cycle's few thousand batches answers in milliseconds, where grouping a million
payments would not. Payments not in any batch (``create_batch`` off) are counted apart.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState
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
        for index in range(4):
            counts[index] += int(values[2 * index])
            amounts[index] += Decimal(values[2 * index + 1])
    issued, sent, paid, failed = zip(counts, amounts, strict=True)
    return CycleSummary(batches, issued, sent, paid, failed)
