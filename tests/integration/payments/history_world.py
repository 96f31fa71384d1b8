"""A registrant with a history: paid in one cycle, failed then paid on retry in another,
cancelled in a third, rejected at approval in a fourth (another program); built through the
services, for the history tests of the service, the API and the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.cancel import cancel_payments
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_payments
from g2p_payment_phee.payments.states import PaymentStatus, mark_batch_payments_sent
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.models import Cycle, Entitlement, ManagerKind, Program
from g2p_payment_phee.registry.models import Registrant
from g2p_payment_phee.users.models import User
from tests import factories

FAILURE = "payee account closed"


@dataclass(frozen=True)
class HistoryWorld:
    """The registrant followed, another one paid alongside, and the cycles by what happened."""

    registrant: Registrant
    neighbour: Registrant
    paid: Cycle
    retried: Cycle
    cancelled: Cycle
    rejected: Cycle


def build_history(session: Session, admin: User, approver: User) -> HistoryWorld:
    """Four cycles, a month apart (paid: January … rejected: April), for two registrants."""
    followed = factories.payable_registrant(session, 0)
    neighbour = factories.payable_registrant(session, 1)
    cash = _phee_program(session, admin, "Cash Transfer")
    programs.enrol(session, admin, cash)
    paid = _approved(session, admin, approver, cash, "Jan", 1)
    _settle(session, _prepared(session, admin, paid), PaymentStatus.PAID)
    retried = _approved(session, admin, approver, cash, "Feb", 2)
    _settle(session, _prepared(session, admin, retried), PaymentStatus.FAILED)
    payments.retry_failed(session, admin, retried)
    _settle(session, _batches(session, retried)[-1], PaymentStatus.PAID)
    cancelled = _approved(session, admin, approver, cash, "Mar", 3)
    _prepared(session, admin, cancelled)
    cancel_payments(session, admin, cancelled, reason="wrong amount")
    rejected = _rejected_cycle(session, admin, approver, followed)
    session.commit()
    return HistoryWorld(followed, neighbour, paid, retried, cancelled, rejected)


def _phee_program(session: Session, admin: User, name: str) -> Program:
    program = factories.program(session, admin, name=name)
    configure_manager(
        session,
        admin,
        program,
        ManagerKind.PHEE,
        {"tenant_id": "gorilla", "payee_id_type": "phone"},
    )
    return program


def _approved(
    session: Session, admin: User, approver: User, program: Program, name: str, month: int
) -> Cycle:
    cycle = _cycle(session, admin, program, name, month)
    programs.submit_cycle(session, admin, cycle)
    programs.approve_cycle(session, approver, cycle)
    return cycle


def _cycle(session: Session, admin: User, program: Program, name: str, month: int) -> Cycle:
    start = date(2026, month, 1)
    cycle = programs.create_cycle(
        session, admin, program, name=name, start=start, end=start.replace(day=28)
    )
    programs.add_fixed_entitlements(session, admin, cycle, amount=str(100 * month))
    return cycle


def _prepared(session: Session, admin: User, cycle: Cycle) -> PaymentBatch:
    payments.prepare_cycle(session, admin, cycle)
    return _batches(session, cycle)[-1]


def _batches(session: Session, cycle: Cycle) -> list[PaymentBatch]:
    query = select(PaymentBatch).where(PaymentBatch.cycle_id == cycle.id)
    return list(session.scalars(query.order_by(PaymentBatch.sequence)))


def _settle(session: Session, batch: PaymentBatch, status: PaymentStatus) -> None:
    """Every payment of the batch sent, then final with ``status``."""
    mark_batch_payments_sent(session, batch)
    rows = session.execute(
        select(Payment.id, Payment.amount_issued).where(Payment.batch_id == batch.id)
    ).all()
    paid = status is PaymentStatus.PAID
    outcomes = [
        Outcome(
            pid,
            status,
            amount_paid=amount if paid else None,
            reason=None if paid else FAILURE,
            transaction_id=f"tx-{pid}",
        )
        for pid, amount in rows
    ]
    reconcile_payments(session, outcomes)
    session.expire_all()


def _rejected_cycle(session: Session, admin: User, approver: User, registrant: Registrant) -> Cycle:
    """April, in another program: the followed registrant's entitlement rejected at approval."""
    food = _phee_program(session, admin, "Food Support")
    programs.enrol(session, admin, food)
    cycle = _cycle(session, admin, food, "Apr", 4)
    programs.submit_cycle(session, admin, cycle)
    code = session.scalars(
        select(Entitlement.code).where(
            Entitlement.cycle_id == cycle.id, Entitlement.registrant_id == registrant.id
        )
    ).one()
    programs.reject_entitlement(session, approver, cycle, code, "moved away")
    programs.approve_cycle(session, approver, cycle)
    return cycle
