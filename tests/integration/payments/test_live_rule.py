"""The database's own rule: one live payment per entitlement (SPEC 2.3), kept by ``live``.

``live`` is the only column the unique index reads (so that the frequent payment updates touch
no index); these tests pin that it cannot disagree with the payment's status, that a failed
payment frees its entitlement, and that two writers racing for one entitlement get one payment.
"""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_payments
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.programs.models import Program
from g2p_payment_phee.users.models import User
from tests import factories


def _prepared_payment(session: Session, admin: User, approver: User, program: Program) -> Payment:
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=1)
    service.prepare_cycle(session, admin, cycle)
    payment = session.scalar(select(Payment))
    assert payment is not None
    session.commit()
    return payment


def _another(payment: Payment) -> Payment:
    return Payment(
        id=uuid.uuid4(), entitlement_id=payment.entitlement_id, cycle_id=payment.cycle_id,
        registrant_id=payment.registrant_id, amount_issued=Decimal(1), currency="KES",
        payee_id_type="MSISDN", payee_id_value="+254700000009",
    )  # fmt: skip


def test_live_cannot_disagree_with_the_status(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    payment = _prepared_payment(session, admin, approver, program)
    assert payment.live is True
    with pytest.raises(IntegrityError, match=r"live_iff_not_failed|CHECK"):
        session.execute(
            update(Payment)
            .where(Payment.id == payment.id)
            .values(state=PaymentState.RECONCILED, status=PaymentStatus.FAILED)
        )
    session.rollback()
    with pytest.raises(IntegrityError, match=r"live_iff_not_failed|CHECK"):
        session.execute(update(Payment).where(Payment.id == payment.id).values(live=False))
    session.rollback()


def test_a_failed_payment_frees_its_entitlement_and_a_paid_one_does_not(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=2)
    service.prepare_cycle(session, admin, cycle)
    paid, failed = session.scalars(select(Payment).order_by(Payment.batch_row)).all()
    reconcile_payments(
        session,
        [
            Outcome(paid.id, PaymentStatus.PAID, Decimal(100)),
            Outcome(failed.id, PaymentStatus.FAILED, reason="closed"),
        ],
    )
    session.commit()
    session.refresh(paid)
    session.refresh(failed)
    assert (paid.live, failed.live) == (True, False)
    session.add(_another(paid))
    with pytest.raises(IntegrityError, match=r"uq_payments_live_entitlement|UNIQUE"):
        session.flush()
    session.rollback()
    session.add(_another(failed))
    session.flush()  # accepted: the entitlement's only other payment failed for good
    session.add(_another(failed))
    with pytest.raises(IntegrityError, match=r"uq_payments_live_entitlement|UNIQUE"):
        session.flush()
    session.rollback()


def test_two_writers_racing_for_one_entitlement_get_one_payment(
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    approver: User,
    program: Program,
    phee,
) -> None:
    payment = _prepared_payment(session, admin, approver, program)
    reconcile_payments(session, [Outcome(payment.id, PaymentStatus.FAILED, reason="closed")])
    session.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def write() -> None:
        with session_factory() as own:
            try:
                barrier.wait()
                own.add(_another(payment))
                own.commit()
                outcomes.append("created")
            except IntegrityError:
                own.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["created", "refused"]
    live = select(func.count()).where(
        Payment.entitlement_id == payment.entitlement_id, Payment.live.is_(True)
    )
    assert session.scalar(live) == 1
