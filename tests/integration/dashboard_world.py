"""A cycle being paid, for the dashboard's figures: five beneficiaries of 100 KES in batches of
two; the first batch paid, the second one paid and one failed, the third never sent."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_payments, refresh_batches
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentStatus,
    mark_batch_payments_sent,
    set_batch_state,
)
from g2p_payment_phee.users.models import User
from tests.integration.web.pages.builders import PaidCycle, prepared_cycle

REASON = "Payee account closed"


def settle(session: Session, batch: PaymentBatch, *statuses: PaymentStatus) -> None:
    """Send ``batch`` and make its payments final, in row order, with these statuses (100 KES
    paid, or failed with ``REASON``); the batch completes when none is left open."""
    set_batch_state(session, None, batch, BatchState.SENDING)
    mark_batch_payments_sent(session, batch)
    set_batch_state(session, None, batch, BatchState.SUBMITTED)
    ids = session.scalars(
        select(Payment.id).where(Payment.batch_id == batch.id).order_by(Payment.batch_row)
    ).all()
    outcomes = [
        Outcome(pid, status, Decimal(100), None)
        if status is PaymentStatus.PAID
        else Outcome(pid, status, None, REASON)
        for pid, status in zip(ids, statuses, strict=False)
    ]
    reconcile_payments(session, outcomes)
    refresh_batches(session, None, [batch.id])


def cycle_being_paid(session: Session, admin: User, approver: User) -> PaidCycle:
    """Three paid, one failed (``REASON``), one not sent yet; two batches completed."""
    paid = prepared_cycle(session, admin, approver, size=5)
    first, second, _ = paid.batches
    settle(session, first, PaymentStatus.PAID, PaymentStatus.PAID)
    settle(session, second, PaymentStatus.PAID, PaymentStatus.FAILED)
    session.flush()
    session.expire_all()
    return paid
