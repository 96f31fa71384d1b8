"""Payments sent long ago whose outcome the hub has still not given (SPEC 3.4).

Such payments are reported, never guessed: nothing here changes a payment. The sync keeps
asking PHEE, and the report names the batches (ours and PHEE's ids), so that someone can take
them up with the hub's operators.

Every payment of a batch is sent when the hub accepts the batch, so the batch counters answer
this without reading payments: a submitted batch accepted (``submitted_at``) before the cut-off
whose counters still show payments that are neither paid nor failed holds overdue payments.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.i18n import _, ngettext
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

DEFAULT_OVERDUE_AFTER = timedelta(hours=48)
LISTED = 20  # batches named in a report; the totals count them all


@dataclass(frozen=True)
class OverdueBatch:
    """A submitted batch with payments still open after the cut-off."""

    batch_id: uuid.UUID
    name: str
    phee_batch_id: str | None
    submitted_at: datetime
    open: int


@dataclass(frozen=True)
class OverdueReport:
    """Open payments in batches accepted more than ``older_than`` ago; the oldest ``listed``."""

    older_than: timedelta
    batches: int = 0
    payments: int = 0
    oldest: datetime | None = None
    listed: tuple[OverdueBatch, ...] = ()

    @property
    def hours(self) -> int:
        """The cut-off in whole hours, as configured (``G2P_OVERDUE_AFTER_HOURS``)."""
        return int(self.older_than.total_seconds() // 3600)

    def describe(self) -> str:
        """One sentence for a person; empty when nothing is overdue."""
        if not self.payments:
            return ""
        batches = ngettext("batch", "batches", self.batches)
        payments = ngettext("payment", "payments", self.payments)
        oldest = (
            _("; the oldest was accepted {oldest:%Y-%m-%d %H:%M} UTC").format(oldest=self.oldest)
            if self.oldest
            else ""
        )
        return _(
            "{payments:,} {payment_word} in {batches:,} {batch_word} were sent more "
            "than {hours} h ago and the hub has not said whether they were "
            "paid{oldest}. They stay open (nothing is guessed): ask the hub's "
            "operators about these batches."
        ).format(
            payments=self.payments,
            payment_word=payments,
            batches=self.batches,
            batch_word=batches,
            hours=self.hours,
            oldest=oldest,
        )


def overdue_payments(
    session: Session,
    actor: User | None,
    cycle_id: uuid.UUID | None = None,
    *,
    older_than: timedelta = DEFAULT_OVERDUE_AFTER,
    now: datetime | None = None,
    listed: int = LISTED,
) -> OverdueReport:
    """Open payments of submitted batches accepted before ``now - older_than`` (of one cycle,
    or of all); ``actor`` None is the system itself. Two queries over batches."""
    if actor is not None:
        authorize(actor, Permission.VIEW)
    if older_than <= timedelta(0):
        raise ValueError("older_than must be positive")
    B = PaymentBatch
    still_open = B.issued_count - B.paid_count - B.failed_count
    where = [
        B.state == BatchState.SUBMITTED,
        B.submitted_at < (now or utcnow()) - older_than,
        still_open > 0,
    ]
    if cycle_id is not None:
        where.append(B.cycle_id == cycle_id)
    batches, payments, oldest = session.execute(
        select(
            func.count(), func.coalesce(func.sum(still_open), 0), func.min(B.submitted_at)
        ).where(*where)
    ).one()
    if not batches:
        return OverdueReport(older_than)
    rows = session.execute(
        select(B.id, B.name, B.phee_batch_id, B.submitted_at, still_open)
        .where(*where)
        .order_by(B.submitted_at, B.sequence)
        .limit(listed)
    ).tuples()
    return OverdueReport(
        older_than,
        int(batches),
        int(payments),
        oldest,
        tuple(
            OverdueBatch(bid, name, phee, at, int(n))
            for bid, name, phee, at, n in rows
            if at is not None  # always set: the query asks for submitted_at < cut-off
        ),
    )
