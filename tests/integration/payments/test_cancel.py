"""Cancelling payments that cannot have reached the hub: a batch, one payment, a whole cycle;
payable again afterwards; anything that may be at the hub refused with the reason."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditAction, AuditEvent
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import (
    BusinessRuleViolation,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.cancel import cancel_payments
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.overview import cycle_payment_totals
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentState,
    mark_batch_payments_sent,
    set_batch_state,
)
from g2p_payment_phee.programs.models import Cycle, Program
from g2p_payment_phee.users.models import User
from tests import factories

_why_unknown = "it may have reached the hub (its upload's outcome is unknown)"


def _batches(session: Session, cycle: Cycle) -> list[PaymentBatch]:
    session.expire_all()
    query = select(PaymentBatch).where(PaymentBatch.cycle_id == cycle.id)
    return list(session.scalars(query.order_by(PaymentBatch.sequence)))


def _payments(session: Session, **where: object) -> list[Payment]:
    query = select(Payment).filter_by(**where).order_by(Payment.id)
    return list(session.scalars(query))


def _cycle(session: Session, admin: User, approver: User, program: Program, phee) -> Cycle:
    phee(max_batch_size=2)
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=5)
    service.prepare_cycle(session, admin, cycle)
    return cycle


def test_a_batch_never_sent_is_cancelled_and_its_people_are_payable_again(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = _cycle(session, admin, approver, program, phee)
    first = _batches(session, cycle)[0]
    report = cancel_payments(session, admin, cycle, batch=first, reason="wrong amount")
    assert (report.cancelled, report.batches, report.amounts) == (
        2,
        [first.name],
        {"KES": Decimal(200)},
    )
    assert _batches(session, cycle)[0].state is BatchState.CANCELLED
    cancelled = _payments(session, batch_id=first.id)
    assert {(p.state, p.live) for p in cancelled} == {(PaymentState.CANCELLED, False)}
    totals = cycle_payment_totals(session, cycle)
    assert totals.payments["issued"] == (3, Decimal(300))  # cancelled ones are not owed
    assert totals.batches[BatchState.CANCELLED] == 1

    again = service.prepare_cycle(session, admin, cycle)
    assert (again.created, again.already_paid) == (2, 3)
    repaid = {p.entitlement_id for p in _payments(session, state=PaymentState.ISSUED)}
    assert {p.entitlement_id for p in cancelled} <= repaid
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.PAYMENTS_CANCELLED)
    ).all()
    assert [e.data["reason"] for e in events] == ["wrong amount"]
    moved = select(func.count()).where(AuditEvent.action == AuditAction.BATCH_CANCELLED)
    assert session.scalar(moved) == 1


def test_one_payment_leaves_its_batch_whose_file_is_made_again(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = _cycle(session, admin, approver, program, phee)
    batch = _batches(session, cycle)[0]
    before = service.batch_file(session, admin, batch).data.decode().split("\n")
    gone, kept = _payments(session, batch_id=batch.id)
    report = cancel_payments(session, admin, cycle, payment_id=gone.id, reason="died")
    assert (report.cancelled, report.shrunk, report.batches) == (1, [batch.name], [])
    batch = _batches(session, cycle)[0]
    assert (batch.state, batch.issued_count, batch.issued_amount) == (
        BatchState.PREPARED,
        1,
        Decimal(100),
    )
    after = service.batch_file(session, admin, batch).data.decode().split("\n")
    assert (len(before), len(after)) == (3, 2)
    assert after[1].startswith(f"0,{kept.id},")  # rows numbered again from 0
    session.expire_all()
    gone = session.get_one(Payment, gone.id)
    assert (gone.state, gone.live, gone.batch_id) == (PaymentState.CANCELLED, False, None)

    # the last payment of a batch takes the batch with it
    report = cancel_payments(session, admin, cycle, payment_id=kept.id, reason="moved away")
    assert report.batches == [batch.name]
    assert _batches(session, cycle)[0].state is BatchState.CANCELLED


def test_what_may_have_reached_the_hub_is_refused_with_the_reason(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = _cycle(session, admin, approver, program, phee)
    submitted, unknown, prepared = _batches(session, cycle)
    set_batch_state(session, admin, submitted, BatchState.SENDING)
    mark_batch_payments_sent(session, submitted)
    set_batch_state(session, admin, submitted, BatchState.SUBMITTED, phee_batch_id="B-1")
    set_batch_state(session, admin, unknown, BatchState.SENDING)
    set_batch_state(session, admin, unknown, BatchState.OUTCOME_UNKNOWN)
    refusals = {
        submitted.id: "the hub accepted it",
        unknown.id: "outcome is unknown",
    }
    for batch_id, why in refusals.items():
        batch = session.get_one(PaymentBatch, batch_id)
        with pytest.raises(BusinessRuleViolation, match=why):
            cancel_payments(session, admin, cycle, batch=batch, reason="x")
    sent = _payments(session, batch_id=submitted.id)[0]
    with pytest.raises(BusinessRuleViolation, match="is sent: only issued payments"):
        cancel_payments(session, admin, cycle, payment_id=sent.id, reason="x")
    # refused outright, but an earlier upload's outcome was unknown: it may be at the hub
    set_batch_state(session, admin, unknown, BatchState.REJECTED)
    with pytest.raises(BusinessRuleViolation, match="may have stored it late"):
        cancel_payments(session, admin, cycle, batch=unknown, reason="x")
    # prepared, but an upload may have started (its start was written before it)
    prepared.last_attempt_at = utcnow() - timedelta(minutes=1)
    with pytest.raises(BusinessRuleViolation, match="an upload of it may have started"):
        cancel_payments(session, admin, cycle, batch=prepared, reason="x")
    assert _payments(session, state=PaymentState.CANCELLED) == []


def test_a_batch_the_hub_refused_outright_can_be_cancelled(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = _cycle(session, admin, approver, program, phee)
    batch = _batches(session, cycle)[0]
    set_batch_state(session, admin, batch, BatchState.SENDING)
    set_batch_state(session, admin, batch, BatchState.REJECTED, last_error="400 bad tenant")
    report = cancel_payments(session, admin, cycle, batch=batch, reason="tenant was wrong")
    assert report.batches == [batch.name]


def test_a_whole_cycle_cancels_what_it_can_and_says_what_it_left(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = _cycle(session, admin, approver, program, phee)
    submitted, unknown, prepared = _batches(session, cycle)
    set_batch_state(session, admin, submitted, BatchState.SENDING)
    mark_batch_payments_sent(session, submitted)
    set_batch_state(session, admin, submitted, BatchState.SUBMITTED)
    set_batch_state(session, admin, unknown, BatchState.SENDING)
    set_batch_state(session, admin, unknown, BatchState.OUTCOME_UNKNOWN)
    phee(create_batch=False)  # and payments waiting for a batch
    extra = factories.approved_cycle(session, admin, approver, program, beneficiaries=1, start=9)
    service.prepare_cycle(session, admin, extra)
    report = cancel_payments(session, admin, cycle, reason="budget withdrawn")
    assert (report.cancelled, report.batches) == (1, [prepared.name])
    assert report.refused == [(unknown.name, _why_unknown)]
    with pytest.raises(BusinessRuleViolation, match="has no payment that can be cancelled"):
        cancel_payments(session, admin, cycle, reason="again")
    waiting = cancel_payments(session, admin, extra, reason="not eligible")
    assert (waiting.cancelled, waiting.batches) == (6, [])  # every enrolled person


def test_bad_input_is_refused_and_writes_nothing(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = _cycle(session, admin, approver, program, phee)
    batch = _batches(session, cycle)[0]
    with pytest.raises(ValidationFailed) as empty:
        cancel_payments(session, admin, cycle, batch=batch, reason="  ")
    assert empty.value.errors[0].field == "reason"
    with pytest.raises(ValidationFailed):
        cancel_payments(
            session, admin, cycle, batch=batch, payment_id=batch.id, reason="both given"
        )
    with pytest.raises(NotFound, match="no payment"):
        cancel_payments(session, admin, cycle, payment_id=batch.id, reason="not a payment")
    other = factories.approved_cycle(session, admin, approver, program, beneficiaries=1, start=7)
    with pytest.raises(NotFound, match="not a batch of cycle"):
        cancel_payments(session, admin, other, batch=batch, reason="wrong cycle")
    with pytest.raises(PermissionDenied):
        cancel_payments(session, approver, cycle, batch=batch, reason="not my job")
    draft = factories.cycle_with_entitlements(session, admin, program, beneficiaries=1)
    with pytest.raises(BusinessRuleViolation, match="only an approved cycle"):
        cancel_payments(session, admin, draft, reason="draft")
    assert _payments(session, state=PaymentState.CANCELLED) == []
