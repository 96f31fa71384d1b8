"""Batch counters stay equal to a recount of their payments whatever happens to the payments:
sends (both ways a batch's payments are marked sent), sync outcomes (paid, failed, repeated,
contradicting, for payments never marked sent, for payments of other batches), results imports,
retries of failed payments, commits and rollbacks, in any order. Batches already loaded in the
session show the same counters as the database."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.counters import COUNTERS, count_batches
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_batches, reconcile_payments
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentStatus,
    mark_batch_payments_sent,
    mark_payments_sent,
    set_batch_state,
)
from g2p_payment_phee.programs.models import Cycle, Program
from g2p_payment_phee.users.models import User
from tests import factories

KEPT = ("issued_count", "issued_amount", *COUNTERS)

steps = st.lists(
    st.sampled_from(["send", "send", "sync", "sync", "import", "retry", "commit", "rollback"]),
    min_size=1,
    max_size=8,
)


def test_counters_equal_a_recount_after_any_sequence(
    session: Session, admin: User, approver: User, program: Program, phee: Any
) -> None:
    phee(max_batch_size=2)
    session.commit()

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(plan=steps, data=st.data())
    def each_sequence(plan: list[str], data: st.DataObject) -> None:
        session.rollback()  # a failed example leaves nothing behind for the next one
        cycle = factories.approved_cycle(  # the same beneficiaries in a new cycle each time
            session, admin, approver, program, beneficiaries=0 if _has_cycles(session) else 5
        )
        service.prepare_cycle(session, admin, cycle)
        session.commit()
        for step in plan:
            batches = _batches(session, cycle)  # loaded: their counters must follow the writes
            if step == "send":
                _send(session, admin, batches, data)
            elif step in {"sync", "import"}:
                _outcomes(session, admin, cycle, batches, data, restricted=step == "sync")
            elif step == "retry":
                service.retry_failed(session, admin, cycle)
            elif step == "commit":
                session.commit()
            else:
                session.rollback()
            _assert_counters_true(session, cycle, batches)
        session.commit()

    each_sequence()


def _has_cycles(session: Session) -> bool:
    return session.scalar(select(Cycle.id).limit(1)) is not None


def _batches(session: Session, cycle: Cycle) -> list[PaymentBatch]:
    query = select(PaymentBatch).where(PaymentBatch.cycle_id == cycle.id)
    return list(session.scalars(query.order_by(PaymentBatch.sequence)))


def _payments(session: Session, cycle: Cycle) -> list[tuple[uuid.UUID, uuid.UUID, Decimal]]:
    query = select(Payment.id, Payment.batch_id, Payment.amount_issued).where(
        Payment.cycle_id == cycle.id
    )
    return [(pid, bid, amount) for pid, bid, amount in session.execute(query.order_by(Payment.id))]


def _send(session: Session, admin: User, batches: list[PaymentBatch], data: st.DataObject) -> None:
    """Some sendable batches handed over, their payments marked sent one way or the other."""
    sendable = [b for b in batches if b.state in {BatchState.PREPARED, BatchState.REJECTED}]
    if not sendable:
        return
    chosen = data.draw(st.lists(st.sampled_from(sendable), min_size=1, unique_by=id))
    one_by_one = data.draw(st.booleans())
    for batch in chosen:
        set_batch_state(session, admin, batch, BatchState.SENDING)
    if one_by_one:  # as the default manager does
        for batch in chosen:
            mark_batch_payments_sent(session, batch)
    else:  # as the PHEE send records accepted batches
        mark_payments_sent(session, [b.id for b in chosen])
    for batch in chosen:
        set_batch_state(session, admin, batch, BatchState.SUBMITTED)


def _outcomes(
    session: Session,
    admin: User,
    cycle: Cycle,
    batches: list[PaymentBatch],
    data: st.DataObject,
    *,
    restricted: bool,
) -> None:
    """Outcomes for any payments (final or not, sent or not, maybe twice); a sync names the
    batches it read, and outcomes of other batches' payments are ignored."""
    payments = _payments(session, cycle)
    if not payments:
        return
    picked = data.draw(st.lists(st.sampled_from(payments), min_size=1, max_size=8))
    outcomes = []
    for pid, _, issued in picked:
        if data.draw(st.booleans()):
            paid = data.draw(st.sampled_from([issued, issued / 2, Decimal(1)]))
            outcomes.append(Outcome(pid, PaymentStatus.PAID, paid, transaction_id=str(pid)))
        else:
            outcomes.append(Outcome(pid, PaymentStatus.FAILED, reason="account closed"))
    if restricted:
        named = data.draw(st.lists(st.sampled_from([b.id for b in batches]), unique=True))
        reconcile_batches(session, admin, outcomes, named)
    else:
        reconcile_payments(session, outcomes)


def _assert_counters_true(session: Session, cycle: Cycle, loaded: list[PaymentBatch]) -> None:
    columns = [getattr(PaymentBatch, name) for name in KEPT]
    query = select(PaymentBatch.id, *columns).where(PaymentBatch.cycle_id == cycle.id)
    stored = {row[0]: dict(zip(KEPT, row[1:], strict=True)) for row in session.execute(query)}
    recounted = count_batches(session, list(stored))
    assert stored == {bid: _kept(counts.columns()) for bid, counts in recounted.items()}
    for batch in loaded:
        (bid,) = inspect(batch).identity or (None,)
        if bid in stored:  # not rolled back
            assert {name: getattr(batch, name) for name in KEPT} == stored[bid]
    for bid, counts in recounted.items():
        state = session.scalar(select(PaymentBatch.state).where(PaymentBatch.id == bid))
        if state is BatchState.COMPLETED:
            assert counts.open == 0


def _kept(columns: dict[str, Any]) -> dict[str, Any]:
    return {name: columns[name] for name in KEPT}
