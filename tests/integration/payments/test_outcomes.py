"""One outcome per beneficiary: people counted once whatever the attempts — paid, failed,
pending at the hub, not sent yet, not payable (kept after prepare, with the reason), cancelled,
rejected — with the amounts approved, and attempts counted apart."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.cancel import cancel_payments
from g2p_payment_phee.payments.models import Payment, PaymentBatch, UnpayableEntitlement
from g2p_payment_phee.payments.outcomes import Outcome, People, cycle_outcomes
from g2p_payment_phee.payments.reconcile import Outcome as Result
from g2p_payment_phee.payments.reconcile import reconcile_payments, refresh_batches
from g2p_payment_phee.payments.reconciliation import outcomes_of
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentStatus,
    mark_batch_payments_sent,
    set_batch_state,
)
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.models import Cycle, Entitlement, Program
from g2p_payment_phee.registry.models import Phone
from g2p_payment_phee.users.models import User
from tests import factories


def _cycle(session: Session, admin: User, approver: User, program: Program) -> Cycle:
    """Eight beneficiaries of 100 each; the last one's entitlement rejected at approval."""
    for index in range(8):
        factories.payable_registrant(session, index)
    session.flush()
    programs.enrol(session, admin, program)
    cycle = programs.create_cycle(
        session, admin, program, name="C1", start=date(2027, 1, 1), end=date(2027, 1, 31)
    )
    programs.add_fixed_entitlements(session, admin, cycle, amount="100")
    programs.submit_cycle(session, admin, cycle)
    last = session.scalars(select(Entitlement).order_by(Entitlement.id.desc())).first()
    assert last is not None
    programs.reject_entitlement(session, approver, cycle, last.code, "moved away")
    programs.approve_cycle(session, approver, cycle)
    return cycle


def _send(session: Session, admin: User, batch: PaymentBatch) -> None:
    set_batch_state(session, admin, batch, BatchState.SENDING)
    mark_batch_payments_sent(session, batch)
    set_batch_state(session, admin, batch, BatchState.SUBMITTED)


def _settle(session: Session, admin: User, batch: PaymentBatch, *statuses: PaymentStatus) -> None:
    ids = session.scalars(
        select(Payment.id).where(Payment.batch_id == batch.id).order_by(Payment.batch_row)
    ).all()
    outcomes = [
        Result(pid, status, Decimal(100) if status is PaymentStatus.PAID else None, "Closed")
        for pid, status in zip(ids, statuses, strict=False)
    ]
    reconcile_payments(session, outcomes)
    refresh_batches(session, admin, [batch.id])


def test_people_are_counted_once_by_the_outcome_of_their_entitlement(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    phee(max_batch_size=2)
    cycle = _cycle(session, admin, approver, program)
    phone = session.scalars(select(Phone).order_by(Phone.number)).first()
    assert phone is not None
    phone.disabled_at = phone.created_at  # the first beneficiary cannot be paid
    session.flush()
    report = service.prepare_cycle(session, admin, cycle)
    assert (report.created, report.skipped_count) == (6, 1)
    kept = session.scalars(select(UnpayableEntitlement)).one()
    assert kept.reason == "no enabled phone number"

    b1, b2, b3 = session.scalars(
        select(PaymentBatch)
        .where(PaymentBatch.cycle_id == cycle.id)
        .order_by(PaymentBatch.sequence)
    ).all()
    _send(session, admin, b1)
    _settle(session, admin, b1, PaymentStatus.PAID, PaymentStatus.FAILED)
    _send(session, admin, b2)
    _settle(session, admin, b2, PaymentStatus.FAILED)  # its second payment stays pending
    cancel_payments(session, admin, cycle, batch=b3, reason="wrong amounts")
    # the first failure is retried and paid: one person, two attempts
    retried = service.retry_failed(session, admin, cycle)
    assert retried.created == 2  # both failed ones; the unpayable one still has no phone
    retry = session.scalars(
        select(PaymentBatch).where(PaymentBatch.state == BatchState.PREPARED)
    ).one()
    _send(session, admin, retry)
    _settle(session, admin, retry, PaymentStatus.PAID, PaymentStatus.FAILED)

    seen = cycle_outcomes(session, admin, cycle)
    hundred = Decimal(100)
    assert seen.approved == People(7, 7 * hundred)
    assert seen.people == {
        Outcome.PAID: People(2, 2 * hundred),
        Outcome.FAILED: People(1, hundred),
        Outcome.PENDING: People(1, hundred),
        Outcome.NOT_PAYABLE: People(1, hundred),
        Outcome.CANCELLED: People(2, 2 * hundred),
        Outcome.REJECTED: People(1, hundred),
    }
    assert seen.amount_paid == 2 * hundred
    assert (seen.attempts, seen.failed_attempts) == (6, 3)  # cancelled ones are not attempts
    assert seen.unpaid == 5
    assert seen.reasons == [("Closed", 1), ("no enabled phone number", 1)]
    # each entitlement's own outcome, as lists show it, adds up to the same people
    every = session.scalars(select(Entitlement).where(Entitlement.cycle_id == cycle.id)).all()
    each = outcomes_of(session, every)
    counted = Counter(o.outcome for o in each.values())
    assert counted == Counter({o: p.count for o, p in seen.people.items()})
    reasons = {o.reason for o in each.values() if o.outcome is Outcome.NOT_PAYABLE}
    assert reasons == {"no enabled phone number"}
    assert max(o.attempts for o in each.values()) == 2  # failed, retried, paid

    # prepare again: the cancelled ones, the one failed and the unpayable one (its phone fixed)
    phone.disabled_at = None
    session.flush()
    again = service.prepare_cycle(session, admin, cycle)
    assert again.created == 4
    assert session.scalars(select(UnpayableEntitlement)).all() == []
    seen = cycle_outcomes(session, admin, cycle)
    assert seen.people[Outcome.NOT_SENT] == People(4, 4 * hundred)
    assert not {Outcome.NOT_PAYABLE, Outcome.CANCELLED, Outcome.FAILED} & seen.people.keys()


def test_a_dry_run_keeps_no_reasons(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=2)
    for phone in session.scalars(select(Phone)):
        phone.disabled_at = phone.created_at
    session.flush()
    assert service.prepare_cycle(session, admin, cycle, dry_run=True).skipped_count == 2
    assert session.scalars(select(UnpayableEntitlement)).all() == []
    seen = cycle_outcomes(session, admin, cycle)
    assert seen.people == {Outcome.NOT_SENT: People(2, Decimal(200))}
    service.prepare_cycle(session, admin, cycle)
    service.prepare_cycle(session, admin, cycle)  # skipped again: one row each, not two
    assert len(session.scalars(select(UnpayableEntitlement)).all()) == 2
    assert cycle_outcomes(session, admin, cycle).people == {
        Outcome.NOT_PAYABLE: People(2, Decimal(200))
    }
