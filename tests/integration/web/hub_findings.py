"""What the hub can tell us that people must see (SPEC 2.3), built through the services: a cycle
whose payments the hub paid, some of them twice, and a batch whose outcome is unknown."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.payments.duplicates import HubCompletion, record_hub_completions
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_payments, refresh_batches
from g2p_payment_phee.payments.states import BatchState, PaymentStatus, set_batch_state
from g2p_payment_phee.users.models import User
from tests.integration.web.pages.builders import PaidCycle, prepared_cycle

AMOUNT = Decimal("100")  # what factories.approved_cycle gives each beneficiary


def paid_cycle(session: Session, admin: User, approver: User, size: int = 3) -> PaidCycle:
    """A prepared cycle (batches of 2) whose batches PHEE accepted as ``PHEE-<n>`` and whose
    payments it paid, each with transaction id ``TX-<request_id>``."""
    paid = prepared_cycle(session, admin, approver, size=size)
    for batch in paid.batches:
        batch.phee_batch_id = f"PHEE-{batch.sequence}"
    session.flush()
    outcomes = [
        Outcome(p.id, PaymentStatus.PAID, AMOUNT, transaction_id=f"TX-{p.id}")
        for p in payments_of(session, paid)
    ]
    reconcile_payments(session, outcomes)
    refresh_batches(session, None, [b.id for b in paid.batches])
    session.expire_all()
    return paid


def payments_of(session: Session, paid: PaidCycle) -> list[Payment]:
    """The cycle's payments in batch and row order."""
    query = (
        select(Payment)
        .join(PaymentBatch, PaymentBatch.id == Payment.batch_id)
        .where(Payment.cycle_id == paid.cycle.id)
        .order_by(PaymentBatch.sequence, Payment.batch_row)
    )
    return list(session.scalars(query))


def hub_pays_twice(session: Session, paid: PaidCycle, count: int = 1) -> list[Payment]:
    """PHEE reports the first ``count`` payments completed in their own PHEE batch and again in
    ``PHEE-DUP`` (transaction ``TX-DUP-<n>``); returns them."""
    twice = payments_of(session, paid)[:count]
    home_of = {b.id: b.phee_batch_id for b in paid.batches}
    completions = []
    for index, payment in enumerate(twice):
        home = home_of.get(payment.batch_id) if payment.batch_id else None
        assert home is not None
        completions += [
            HubCompletion(payment.id, home, AMOUNT, f"TX-{payment.id}"),
            HubCompletion(payment.id, "PHEE-DUP", AMOUNT, f"TX-DUP-{index}"),
        ]
    assert record_hub_completions(session, None, completions) == count
    return twice


def outcome_unknown(
    session: Session, batch: PaymentBatch, *, attempt_started: datetime | None = None
) -> datetime:
    """``batch`` sent, its outcome unknown, its latest upload started at ``attempt_started``
    (a minute ago by default); returns that moment."""
    started = attempt_started or utcnow() - timedelta(minutes=1)
    set_batch_state(session, None, batch, BatchState.SENDING, claimed_by="test", claimed_at=started)
    set_batch_state(
        session,
        None,
        batch,
        BatchState.OUTCOME_UNKNOWN,
        last_attempt_at=started,
        last_error="timed out",
    )
    return started


def local_time(moment: datetime) -> str:
    """How ``resend.when_text`` writes a moment, without the part that moves with the clock."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
