"""Keyset pages of payments and batches: every row exactly once, in order, filters, bad cursors."""

from __future__ import annotations

import uuid
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import PermissionDenied, ValidationFailed
from g2p_payment_phee.pagination import encode_cursor
from g2p_payment_phee.payments import listing, service
from g2p_payment_phee.payments.cancel import cancel_payments
from g2p_payment_phee.payments.listing import list_cycle_batches, list_payments
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_payments, refresh_batches
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentState,
    PaymentStatus,
    mark_batch_payments_sent,
    set_batch_state,
)
from g2p_payment_phee.programs.models import Cycle, Program
from g2p_payment_phee.users.models import Role, User
from tests import factories


@pytest.fixture
def cycle(session: Session, admin: User, approver: User, program: Program, phee) -> Cycle:
    """12 payments in 3 batches of at most 5; two paid, one failed."""
    phee(max_batch_size=5)
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=12)
    assert service.prepare_cycle(session, admin, cycle).created == 12
    first = list(session.scalars(select(Payment).order_by(Payment.id).limit(3)))
    reconcile_payments(
        session,
        [
            Outcome(first[0].id, PaymentStatus.PAID, Decimal(100)),
            Outcome(first[1].id, PaymentStatus.PAID, Decimal(100)),
            Outcome(first[2].id, PaymentStatus.FAILED, reason="account closed"),
        ],
    )
    session.commit()
    return cycle


def _walk(fetch, limit: int) -> list[Any]:
    """Every item of a list, page by page, checking that each page is full but the last."""
    items, cursor, pages = [], None, 0
    while True:
        page = fetch(cursor=cursor, limit=limit)
        pages += 1
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        assert len(page.items) == limit
        cursor = page.next_cursor
        assert pages < 100


@pytest.mark.parametrize("limit", [1, 4, 5, 50])
def test_a_cycles_payments_each_once_in_id_order(
    session: Session, viewer: User, cycle: Cycle, limit: int
) -> None:
    walked = _walk(lambda **kw: list_payments(session, viewer, cycle_id=cycle.id, **kw), limit)
    ids = [p.id for p in walked]
    assert len(ids) == 12
    assert ids == sorted(ids)
    expected = session.scalars(select(Payment.id).where(Payment.cycle_id == cycle.id)).all()
    assert set(ids) == set(expected)


def test_a_batchs_payments_in_file_order(session: Session, viewer: User, cycle: Cycle) -> None:
    batches = session.scalars(
        select(PaymentBatch)
        .where(PaymentBatch.cycle_id == cycle.id)
        .order_by(PaymentBatch.sequence)
    ).all()
    assert [b.issued_count for b in batches] == [5, 5, 2]
    for batch in batches:
        walked = _walk(partial(list_payments, session, viewer, batch_id=batch.id), 2)
        assert [p.batch_row for p in walked] == list(range(batch.issued_count))
        assert {p.batch_id for p in walked} == {batch.id}


def test_filters_by_state_and_status(session: Session, viewer: User, cycle: Cycle) -> None:
    def ids(**filters) -> set[uuid.UUID]:
        page = list_payments(session, viewer, cycle_id=cycle.id, limit=500, **filters)
        return {p.id for p in page.items}

    paid, failed = ids(status=PaymentStatus.PAID), ids(status=PaymentStatus.FAILED)
    assert (len(paid), len(failed)) == (2, 1)
    assert ids(state=PaymentState.RECONCILED) == paid | failed
    assert len(ids(state=PaymentState.ISSUED)) == 9
    assert ids(state=PaymentState.SENT) == set()
    assert ids(state=PaymentState.ISSUED, status=PaymentStatus.PAID) == set()
    [payment] = list_payments(session, viewer, status=PaymentStatus.FAILED).items
    assert payment.failure_reason == "account closed"


def test_other_cycles_payments_stay_out(
    session: Session, admin: User, approver: User, program: Program, cycle: Cycle
) -> None:
    # approved_cycle enrols every registrant: the second cycle pays the first 12 again, plus 3
    other = factories.approved_cycle(session, admin, approver, program, beneficiaries=3, start=100)
    service.prepare_cycle(session, admin, other)
    page = list_payments(session, admin, cycle_id=other.id)
    assert len(page.items) == 15
    assert {p.cycle_id for p in page.items} == {other.id}
    assert len(list_payments(session, admin, cycle_id=cycle.id, limit=500).items) == 12
    assert len(list_payments(session, admin, limit=500).items) == 27


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_a_cycles_batches_in_sequence(
    session: Session, viewer: User, cycle: Cycle, limit: int
) -> None:
    walked = _walk(lambda **kw: list_cycle_batches(session, viewer, cycle.id, **kw), limit)
    assert [b.sequence for b in walked] == [1, 2, 3]
    prepared = list_cycle_batches(session, viewer, cycle.id, state=BatchState.PREPARED)
    assert len(prepared.items) == 3
    assert list_cycle_batches(session, viewer, cycle.id, state=BatchState.COMPLETED).items == []


@pytest.mark.parametrize(
    "cursor",
    ["garbage", encode_cursor(["not-a-uuid"]), encode_cursor([1, 2]), encode_cursor([None])],
)
def test_a_foreign_cursor_is_a_validation_error(
    session: Session, viewer: User, cycle: Cycle, cursor: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        list_payments(session, viewer, cycle_id=cycle.id, cursor=cursor)
    assert [e.field for e in caught.value.errors] == ["cursor"]


@pytest.mark.parametrize("limit", [0, -1, 501])
def test_page_size_is_bounded(session: Session, viewer: User, cycle: Cycle, limit: int) -> None:
    with pytest.raises(ValidationFailed):
        list_payments(session, viewer, cycle_id=cycle.id, limit=limit)
    with pytest.raises(ValidationFailed):
        list_cycle_batches(session, viewer, cycle.id, limit=limit)


def test_a_disabled_user_sees_nothing(session: Session, cycle: Cycle) -> None:
    ghost = factories.user(session, "ghost", Role.VIEWER, active=False)
    with pytest.raises(PermissionDenied):
        list_payments(session, ghost, cycle_id=cycle.id)


@pytest.mark.parametrize("prune_max", [900, 1])  # narrowed to the batches, or not (too many)
def test_state_filters_find_every_unreconciled_payment_wherever_its_batch_is(
    session: Session,
    admin: User,
    approver: User,
    program: Program,
    phee,
    monkeypatch: pytest.MonkeyPatch,
    prune_max: int,
) -> None:
    monkeypatch.setattr(listing, "PRUNE_MAX_BATCHES", prune_max)
    phee(max_batch_size=3)
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=12)
    service.prepare_cycle(session, admin, cycle)
    submitted, unknown, completed, prepared = session.scalars(
        select(PaymentBatch)
        .where(PaymentBatch.cycle_id == cycle.id)
        .order_by(PaymentBatch.sequence)
    ).all()
    for batch in (submitted, unknown, completed):
        set_batch_state(session, admin, batch, BatchState.SENDING)
    for batch in (submitted, completed):
        mark_batch_payments_sent(session, batch)
        set_batch_state(session, admin, batch, BatchState.SUBMITTED)
    set_batch_state(session, admin, unknown, BatchState.OUTCOME_UNKNOWN)
    done = session.scalars(select(Payment.id).where(Payment.batch_id == completed.id)).all()
    reconcile_payments(session, [Outcome(pid, PaymentStatus.PAID, Decimal(100)) for pid in done])
    refresh_batches(session, admin, [completed.id])
    assert completed.state is BatchState.COMPLETED
    phee(create_batch=False)  # a second cycle's payments are in no batch
    other = factories.approved_cycle(session, admin, approver, program, beneficiaries=2, start=50)
    service.prepare_cycle(session, admin, other)
    # cancelled: a whole batch never sent, and one payment waiting for a batch
    cancel_payments(session, admin, cycle, batch=prepared, reason="wrong amounts")
    first = session.scalars(select(Payment.id).where(Payment.cycle_id == other.id)).first()
    cancel_payments(session, admin, other, payment_id=first, reason="registrant moved away")
    session.commit()

    for state in PaymentState:
        for cycle_id in (cycle.id, other.id, None):
            fetch = partial(list_payments, session, admin, cycle_id=cycle_id, state=state)
            listed = [p.id for p in _walk(fetch, 2)]
            truth = select(Payment.id).where(Payment.state == state)
            if cycle_id is not None:
                truth = truth.where(Payment.cycle_id == cycle_id)
            assert listed == sorted(session.scalars(truth).all()), (state, cycle_id)
    counts = {s: len(list_payments(session, admin, state=s, limit=500).items) for s in PaymentState}
    assert counts == {
        PaymentState.ISSUED: 16,
        PaymentState.SENT: 3,
        PaymentState.RECONCILED: 3,
        PaymentState.CANCELLED: 4,
    }
