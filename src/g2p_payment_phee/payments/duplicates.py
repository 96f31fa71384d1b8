"""Payments the hub paid more than once (SPEC 2.3): recorded from the hub's own records,
reported on every surface, and acknowledged by an approver before a cycle is distributed.

Nothing here guesses: a payment is recorded only when the hub reports its request_id
``COMPLETED`` in more than one PHEE batch, or in a PHEE batch other than the one the payment
was sent in. What to do about the extra money (recover it from the payee, or accept it) is a
decision for people; the product records it, shows it and keeps the cycle from being marked
distributed until someone with the approver role acknowledges it with a reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import BusinessRuleViolation
from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import display
from g2p_payment_phee.payments.models import DuplicatePayment, Payment, PaymentBatch
from g2p_payment_phee.payments.states import PaymentStatus
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

MAX_REASON = 2000


@dataclass(frozen=True)
class HubCompletion:
    """The hub's record of one payment (by request_id) completed in one of its batches."""

    payment_id: uuid.UUID
    phee_batch_id: str
    amount: Decimal | None
    transaction_id: str | None
    completed_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "phee_batch_id": self.phee_batch_id,
            "amount": None if self.amount is None else f"{self.amount:f}",
            "transaction_id": self.transaction_id,
            "completed_at": None if self.completed_at is None else self.completed_at.isoformat(),
        }


def record_duplicate_batches(
    session: Session, actor: User | None, batch: PaymentBatch, phee_ids: Iterable[str]
) -> list[str]:
    """Note the PHEE batches the hub holds under ``batch``'s correlation id besides the one it
    is recorded under; an audit event when new ones appear. Returns the extra ids, sorted."""
    extra = sorted({pid for pid in phee_ids if pid and pid != batch.phee_batch_id})
    known = sorted(batch.phee_duplicate_ids or [])
    merged = sorted(set(extra) | set(known))
    if merged != known:
        session.execute(
            update(PaymentBatch)
            .where(PaymentBatch.id == batch.id)
            .values(phee_duplicate_ids=merged)
            .execution_options(synchronize_session=False)
        )
        batch.phee_duplicate_ids = merged
        session.flush()
        audit.record(
            session,
            actor,
            AuditAction.BATCH_DUPLICATED_AT_HUB,
            batch,
            {
                "correlation_id": batch.correlation_id,
                "phee_batch_id": batch.phee_batch_id,
                "other_phee_batch_ids": merged,
            },
        )
    return merged


def record_hub_completions(
    session: Session, actor: User | None, completions: Iterable[HubCompletion]
) -> int:
    """Record the payments that the hub's completions show paid twice (or paid outside their
    own PHEE batch); returns how many records were written or changed."""
    by_payment: dict[uuid.UUID, dict[str, HubCompletion]] = {}
    for done in completions:
        by_payment.setdefault(done.payment_id, {}).setdefault(done.phee_batch_id, done)
    if not by_payment:
        return 0
    ids = list(by_payment)
    rows = session.execute(
        select(Payment, PaymentBatch.phee_batch_id, PaymentBatch.correlation_id)
        .join(PaymentBatch, PaymentBatch.id == Payment.batch_id)
        .where(Payment.id.in_(ids))
    ).all()
    existing = {
        d.payment_id: d
        for d in session.scalars(
            select(DuplicatePayment).where(DuplicatePayment.payment_id.in_(ids))
        )
    }
    written = 0
    for payment, home_phee_id, correlation_id in rows:
        seen = dict(by_payment[payment.id])
        if payment.status is PaymentStatus.PAID and home_phee_id and home_phee_id not in seen:
            seen[home_phee_id] = HubCompletion(
                payment.id, home_phee_id, payment.amount_paid, payment.phee_transaction_id
            )
        if len(seen) < 2 and home_phee_id in seen:
            continue  # paid once, in its own batch: nothing to report
        occurrences = [seen[key].as_json() for key in sorted(seen)]
        total = sum((c.amount or payment.amount_issued for c in seen.values()), Decimal(0))
        record = existing.get(payment.id)
        if record is not None and record.occurrences == occurrences:
            continue
        if record is None:
            record = DuplicatePayment(
                payment_id=payment.id,
                cycle_id=payment.cycle_id,
                batch_id=payment.batch_id,
                correlation_id=correlation_id,
                currency=payment.currency,
                times_paid=len(seen),
                amount_paid=total,
                occurrences=occurrences,
            )
            session.add(record)
        else:
            record.times_paid, record.amount_paid = len(seen), total
            record.occurrences = occurrences
            record.acknowledged_at = record.acknowledged_by = record.acknowledged_reason = None
        session.flush()
        audit.record(
            session,
            actor,
            AuditAction.PAYMENT_PAID_TWICE,
            payment,
            {"times_paid": len(seen), "amount_paid": f"{total:f}", "occurrences": occurrences},
        )
        written += 1
    return written


@dataclass
class PaidTwice:
    """A cycle's payments the hub paid more than once: what a person must know."""

    payments: int = 0
    times_paid: int = 0
    amount_paid: Decimal = Decimal(0)
    amount_expected: Decimal = Decimal(0)
    unacknowledged: int = 0
    currency: str | None = None
    records: list[DuplicatePayment] = field(default_factory=list)
    batches_duplicated: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.payments or self.batches_duplicated)

    @property
    def amount_extra(self) -> Decimal:
        """Money paid beyond what the payments asked for."""
        return self.amount_paid - self.amount_expected

    def describe(self) -> str:
        """One sentence for a person."""
        if not self.payments:
            names = ", ".join(name for name, _ in self.batches_duplicated[:5])
            return _(
                "PHEE holds {count} batches more than once ({names}); no payment of "
                "theirs is reported paid twice so far"
            ).format(count=len(self.batches_duplicated), names=names)
        extra = display(self.amount_extra, self.currency) if self.currency else "?"
        pending = (
            _("{unacknowledged} not acknowledged").format(unacknowledged=self.unacknowledged)
            if self.unacknowledged
            else _("all acknowledged")
        )
        return _(
            "PAID TWICE: PHEE reports {payments} payments paid more than once "
            "({times_paid} payments made, {extra} paid beyond the entitlements); "
            "{pending}"
        ).format(payments=self.payments, times_paid=self.times_paid, extra=extra, pending=pending)

    def as_json(self) -> dict[str, Any]:
        return {
            "payments": self.payments,
            "times_paid": self.times_paid,
            "amount_paid": f"{self.amount_paid:f}",
            "amount_extra": f"{self.amount_extra:f}",
            "currency": self.currency,
            "unacknowledged": self.unacknowledged,
            "batches_duplicated_at_hub": [
                {"batch": name, "other_phee_batch_ids": ids}
                for name, ids in self.batches_duplicated
            ],
            "records": [
                {
                    "payment_id": str(r.payment_id),
                    "correlation_id": r.correlation_id,
                    "times_paid": r.times_paid,
                    "amount_paid": f"{r.amount_paid:f}",
                    "occurrences": r.occurrences,
                    "acknowledged_at": r.acknowledged_at.isoformat() if r.acknowledged_at else None,
                    "acknowledged_reason": r.acknowledged_reason,
                }
                for r in self.records
            ],
        }


def paid_twice(session: Session, cycle_id: uuid.UUID | None = None, limit: int = 50) -> PaidTwice:
    """The duplicates the hub's records show, for one cycle or every cycle."""
    report = PaidTwice()
    where = [] if cycle_id is None else [DuplicatePayment.cycle_id == cycle_id]
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(DuplicatePayment.times_paid), 0),
            func.coalesce(func.sum(DuplicatePayment.amount_paid), 0),
            func.count(DuplicatePayment.acknowledged_at),
            func.max(DuplicatePayment.currency),
        ).where(*where)
    ).one()
    report.payments, report.times_paid = int(row[0]), int(row[1])
    report.amount_paid = Decimal(row[2])
    report.unacknowledged = report.payments - int(row[3])
    report.currency = row[4]
    if report.payments:
        expected = session.scalar(
            select(func.coalesce(func.sum(Payment.amount_issued), 0))
            .join(DuplicatePayment, DuplicatePayment.payment_id == Payment.id)
            .where(*where)
        )
        report.amount_expected = Decimal(expected or 0)
        report.records = list(
            session.scalars(
                select(DuplicatePayment)
                .where(*where)
                .order_by(DuplicatePayment.detected_at, DuplicatePayment.payment_id)
                .limit(limit)
            )
        )
    batch_where: list[ColumnElement[bool]] = [PaymentBatch.phee_duplicate_ids.is_not(None)]
    if cycle_id is not None:
        batch_where.append(PaymentBatch.cycle_id == cycle_id)
    duplicated = session.execute(
        select(PaymentBatch.name, PaymentBatch.phee_duplicate_ids)
        .where(*batch_where)
        .order_by(PaymentBatch.sequence)
        .limit(limit)
    ).tuples()
    report.batches_duplicated = [(name, list(ids)) for name, ids in duplicated if ids]
    return report


def acknowledge_paid_twice(session: Session, actor: User, cycle: Cycle, reason: str) -> int:
    """An approver records that the cycle's payments paid twice are known and handled (the
    reason says how); returns how many were acknowledged. Needed before distribution."""
    authorize(actor, Permission.APPROVE)
    reason = (reason or "").strip()
    if not reason:
        raise BusinessRuleViolation(_("acknowledging payments paid twice needs a reason"))
    if len(reason) > MAX_REASON:
        raise BusinessRuleViolation(
            _("the reason is longer than {MAX_REASON} characters").format(MAX_REASON=MAX_REASON)
        )
    pending = list(
        session.scalars(
            select(DuplicatePayment).where(
                DuplicatePayment.cycle_id == cycle.id, DuplicatePayment.acknowledged_at.is_(None)
            )
        )
    )
    if not pending:
        raise BusinessRuleViolation(
            _("cycle {name!r} has no payments paid twice to acknowledge").format(name=cycle.name)
        )
    now = utcnow()
    for record in pending:
        record.acknowledged_at, record.acknowledged_by = now, actor.id
        record.acknowledged_reason = reason
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.CYCLE_PAID_TWICE_ACKNOWLEDGED,
        cycle,
        {"payments": len(pending), "reason": reason},
    )
    return len(pending)


def refuse_unacknowledged(session: Session, cycle: Cycle) -> None:
    """Distribution (and a retry of failed payments, one of which the hub may have paid in a
    duplicate batch) waits for an approver to acknowledge the payments paid twice."""
    report = paid_twice(session, cycle.id, limit=0)
    if report.unacknowledged:
        raise BusinessRuleViolation(
            _(
                "cycle {name!r}: {describe}. Someone with the approver role must "
                "acknowledge them with a reason first (g2p-phee cycles "
                "acknowledge-paid-twice)"
            ).format(name=cycle.name, describe=report.describe())
        )
