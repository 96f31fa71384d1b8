"""``reconcile_batches``: the sync's write path. Payments become final once, and the batches'
counters (added to in the same statement on PostgreSQL, recounted elsewhere) always equal a
recount of their payments, also when two syncs race over the same payments."""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import (
    BatchCounts,
    Outcome,
    count_batches,
    reconcile_batches,
    refresh_batches,
)
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentState,
    PaymentStatus,
    mark_batch_payments_sent,
    set_batch_state,
)
from g2p_payment_phee.programs.models import Program
from g2p_payment_phee.users.models import User
from tests import factories


def _submitted_batches(
    session: Session, admin: User, approver: User, program: Program, phee, *, sent: bool = True
) -> list[PaymentBatch]:
    """9 payments of 100 in 3 submitted batches of 3 (payments sent unless ``sent`` is False)."""
    phee(max_batch_size=3)
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=9)
    service.prepare_cycle(session, admin, cycle)
    batches = list(
        session.scalars(
            select(PaymentBatch)
            .where(PaymentBatch.cycle_id == cycle.id)
            .order_by(PaymentBatch.sequence)
        )
    )
    for batch in batches:
        set_batch_state(session, admin, batch, BatchState.SENDING)
        if sent:
            mark_batch_payments_sent(session, batch)
        set_batch_state(session, admin, batch, BatchState.SUBMITTED)
    refresh_batches(session, admin, [b.id for b in batches])  # counters true, as send keeps them
    session.commit()
    return batches


def _payments(session: Session, batch: PaymentBatch) -> list[Payment]:
    query = select(Payment).where(Payment.batch_id == batch.id).order_by(Payment.batch_row)
    return list(session.scalars(query))


def _counters(session: Session, batches: list[PaymentBatch]) -> dict[uuid.UUID, dict[str, object]]:
    session.expire_all()
    return {
        b.id: {name: getattr(session.get_one(PaymentBatch, b.id), name) for name in _NAMES}
        for b in batches
    }


def _recounted(session: Session, batches: list[PaymentBatch]) -> dict[uuid.UUID, dict[str, object]]:
    counts = count_batches(session, [b.id for b in batches])
    return {bid: {n: c.columns()[n] for n in _NAMES} for bid, c in counts.items()}


# Every counter a recount gives (all but ``open``, which is no column).
_NAMES = tuple(name for name in BatchCounts.__dataclass_fields__ if name != "open")


def test_counters_follow_the_outcomes_and_full_batches_complete(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    first, second, third = _submitted_batches(session, admin, approver, program, phee)
    a, b, c = _payments(session, first)
    d, e, _f = _payments(session, second)
    outcomes = [
        Outcome(a.id, PaymentStatus.PAID, Decimal(100)),
        Outcome(b.id, PaymentStatus.PAID, Decimal(90)),  # PHEE paid less: what it paid counts
        Outcome(c.id, PaymentStatus.FAILED, reason="Payee account closed"),
        Outcome(d.id, PaymentStatus.PAID, Decimal(100)),
        Outcome(e.id, PaymentStatus.FAILED, reason="Payee FSP unavailable"),
    ]
    changed, completed = reconcile_batches(
        session, admin, outcomes, [first.id, second.id, third.id]
    )
    assert changed == 5
    assert [batch.id for batch in completed] == [first.id]
    counters = _counters(session, [first, second, third])
    assert counters == _recounted(session, [first, second, third])
    assert counters[first.id]["paid_count"] == 2
    assert counters[first.id]["paid_amount"] == Decimal(190)
    assert counters[first.id]["failed_amount"] == Decimal(100)
    assert counters[second.id]["paid_count"] == counters[second.id]["failed_count"] == 1
    assert session.get_one(PaymentBatch, second.id).state is BatchState.SUBMITTED
    assert session.get_one(PaymentBatch, third.id).state is BatchState.SUBMITTED

    # The same outcomes again, and a contradicting one: finals stay, counters do not move.
    again = [*outcomes, Outcome(c.id, PaymentStatus.PAID, Decimal(100))]
    assert reconcile_batches(session, admin, again, [first.id, second.id]) == (0, [])
    assert _counters(session, [first, second, third]) == counters
    assert session.get_one(Payment, c.id).status is PaymentStatus.FAILED


def test_hub_texts_are_stored_exactly_as_received(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    """Reasons and transaction ids are PHEE's text: whatever they hold (COPY's separators and
    escapes included) is stored as received, never split or reinterpreted."""
    first, *_ = _submitted_batches(session, admin, approver, program, phee)
    a, b, c = _payments(session, first)
    texts = {
        a.id: ("Payee\taccount\nclosed \\N", "tx\\1"),
        b.id: ("\\N", "tx\t2\r"),
        c.id: ("plain", "\\N"),
    }
    outcomes = [
        Outcome(pid, PaymentStatus.FAILED, reason=reason, transaction_id=txid)
        for pid, (reason, txid) in texts.items()
    ]
    assert reconcile_batches(session, admin, outcomes, [first.id])[0] == 3
    session.expire_all()
    stored = {p.id: (p.failure_reason, p.phee_transaction_id) for p in _payments(session, first)}
    assert stored == texts


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])  # elsewhere the caller's batches are recounted
def test_an_outcome_of_another_batch_is_not_applied_on_postgres(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    first, second, _ = _submitted_batches(session, admin, approver, program, phee)
    stranger = _payments(session, second)[0]
    outcome = Outcome(stranger.id, PaymentStatus.PAID, Decimal(100))
    assert reconcile_batches(session, admin, [outcome], [first.id]) == (0, [])
    assert session.get_one(Payment, stranger.id).state is PaymentState.SENT


def test_payments_never_marked_sent_are_counted_sent_when_final(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    batches = _submitted_batches(session, admin, approver, program, phee, sent=False)
    outcomes = [
        Outcome(p.id, PaymentStatus.PAID, Decimal(100)) for p in _payments(session, batches[0])
    ]
    changed, completed = reconcile_batches(session, admin, outcomes, [b.id for b in batches])
    assert (changed, [b.id for b in completed]) == (3, [batches[0].id])
    counters = _counters(session, batches)
    assert counters == _recounted(session, batches)
    assert counters[batches[0].id]["sent_count"] == 3
    assert counters[batches[1].id]["sent_count"] == 0


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])  # row locks and re-evaluation are PostgreSQL's
def test_two_racing_syncs_count_each_payment_once(
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    approver: User,
    program: Program,
    phee,
) -> None:
    """The second sync waits on the first one's row locks, then re-reads the rows: payments the
    first made final are skipped, and its counter increments land on the first's totals."""
    batches = _submitted_batches(session, admin, approver, program, phee)
    ids = [b.id for b in batches]
    payments = [p for b in batches for p in _payments(session, b)]
    first_half = [Outcome(p.id, PaymentStatus.PAID, Decimal(100)) for p in payments[:6]]
    everything = [
        Outcome(p.id, PaymentStatus.FAILED, reason="late and contradicting") for p in payments
    ]
    session.commit()

    holder = session_factory()
    assert reconcile_batches(holder, admin, first_half, ids)[0] == 6  # not committed yet
    pid = holder.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
    result: dict[str, object] = {}

    def second_sync() -> None:
        with session_factory() as other:
            result["changed"] = reconcile_batches(other, admin, everything, ids)[0]
            other.commit()

    thread = threading.Thread(target=second_sync)
    thread.start()
    _wait_until_blocked_by(session, pid)
    holder.commit()
    holder.close()
    thread.join(timeout=60)
    assert not thread.is_alive()

    assert result["changed"] == 3  # only the payments the first sync did not make final
    counters = _counters(session, batches)
    assert counters == _recounted(session, batches)
    assert sum(c["paid_count"] for c in counters.values()) == 6  # type: ignore[misc]
    assert sum(c["failed_count"] for c in counters.values()) == 3  # type: ignore[misc]
    states = {b.id: session.get_one(PaymentBatch, b.id).state for b in batches}
    assert set(states.values()) == {BatchState.COMPLETED}


def _wait_until_blocked_by(session: Session, pid: object, timeout: float = 30) -> None:
    """Poll PostgreSQL until some backend waits on a lock held by ``pid`` (observation, not a
    guess at a duration)."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if session.execute(query, {"pid": pid}).scalar():
            session.rollback()
            return
        session.rollback()
        time.sleep(0.01)
    raise AssertionError("the second sync never waited for the first one")
