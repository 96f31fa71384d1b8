"""A registrant's payment history: every entitlement in every program, newest cycle first, each
with every payment attempt and its outcome; keyset pages of two queries that use the indexes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import PermissionDenied, ValidationFailed
from g2p_payment_phee.payments.history import EntitlementHistory, registrant_history
from g2p_payment_phee.payments.outcomes import Outcome
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.users.models import Role, User
from tests import factories
from tests.integration.payments.history_world import FAILURE, HistoryWorld, build_history


@pytest.fixture
def world(session: Session, admin: User, approver: User) -> HistoryWorld:
    return build_history(session, admin, approver)


def _all(session: Session, viewer: User, world: HistoryWorld) -> list[EntitlementHistory]:
    return registrant_history(session, viewer, world.registrant.id, limit=50).items


def test_each_cycle_newest_first_with_its_program_amount_and_outcome(
    session: Session, viewer: User, world: HistoryWorld
) -> None:
    history = _all(session, viewer, world)
    assert [(h.program_name, h.cycle_name, h.outcome) for h in history] == [
        ("Food Support", "Apr", Outcome.REJECTED),
        ("Cash Transfer", "Mar", Outcome.CANCELLED),
        ("Cash Transfer", "Feb", Outcome.PAID),
        ("Cash Transfer", "Jan", Outcome.PAID),
    ]
    assert [h.cycle_id for h in history] == [
        world.rejected.id,
        world.cancelled.id,
        world.retried.id,
        world.paid.id,
    ]
    assert [(str(h.amount), h.currency) for h in history] == [
        ("400.0000", "KES"),
        ("300.0000", "KES"),
        ("200.0000", "KES"),
        ("100.0000", "KES"),
    ]
    assert history[0].state is EntitlementState.REJECTED
    assert (history[0].payments, history[0].attempts) == ([], 0)
    assert all(h.code for h in history)


def test_a_failed_payment_and_its_retry_are_both_shown_oldest_first(
    session: Session, viewer: User, world: HistoryWorld
) -> None:
    retried = _all(session, viewer, world)[2]
    assert retried.attempts == 2
    failed, paid = retried.payments
    assert (failed.state, failed.status, failed.outcome) == (
        PaymentState.RECONCILED,
        PaymentStatus.FAILED,
        Outcome.FAILED,
    )
    assert failed.failure_reason == FAILURE
    assert (paid.status, paid.outcome, paid.amount_paid) == (
        PaymentStatus.PAID,
        Outcome.PAID,
        paid.amount_issued,
    )
    assert paid.phee_transaction_id == f"tx-{paid.request_id}"
    assert paid.sent_at is not None
    assert paid.settled_at is not None
    assert (failed.batch_sequence, paid.batch_sequence) == (1, 2)
    assert None not in (failed.batch_name, paid.batch_name, failed.batch_id, paid.batch_id)
    assert failed.batch_name != paid.batch_name
    assert failed.batch_id != paid.batch_id


def test_cancelled_payments_and_only_the_registrants_own_are_listed(
    session: Session, viewer: User, world: HistoryWorld
) -> None:
    history = _all(session, viewer, world)
    cancelled = history[1]
    assert [p.outcome for p in cancelled.payments] == [Outcome.CANCELLED]
    assert cancelled.payments[0].state is PaymentState.CANCELLED
    request_ids = [p.request_id for h in history for p in h.payments]
    # Jan 1, Feb 2, Mar 1: none of the neighbour's
    assert len(request_ids) == len(set(request_ids)) == 4
    neighbour = registrant_history(session, viewer, world.neighbour.id, limit=50).items
    assert [h.outcome for h in neighbour] == [
        Outcome.NOT_SENT,  # April: approved, never prepared
        Outcome.CANCELLED,
        Outcome.PAID,
        Outcome.PAID,
    ]
    assert not {p.request_id for h in neighbour for p in h.payments} & set(request_ids)


def test_pages_follow_each_other_to_the_last(
    session: Session, viewer: User, world: HistoryWorld
) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = registrant_history(session, viewer, world.registrant.id, cursor=cursor, limit=3)
        seen += [h.cycle_name for h in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert (pages, seen) == (2, ["Apr", "Mar", "Feb", "Jan"])
    last = registrant_history(session, viewer, world.registrant.id, cursor=cursor, limit=3)
    assert [h.payments[0].outcome for h in last.items] == [Outcome.PAID]


def test_cycles_starting_the_same_day_are_each_listed_once(
    session: Session, admin: User, approver: User, viewer: User
) -> None:
    registrant = factories.payable_registrant(session, 0)
    program = factories.program(session, admin)
    for _ in range(3):  # C1..C3, all starting on 1 December
        factories.approved_cycle(session, admin, approver, program, beneficiaries=0)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        page = registrant_history(session, viewer, registrant.id, cursor=cursor, limit=1)
        seen += [h.cycle_name for h in page.items]
        cursor = page.next_cursor
    assert cursor is None
    assert sorted(seen) == ["C1", "C2", "C3"]


def _fresh(session: Session, viewer: User, world: HistoryWorld) -> uuid.UUID:
    """The registrant's id, in a new transaction with the viewer loaded: nothing else is read."""
    session.commit()
    registrant_id = world.registrant.id
    assert viewer.active
    return registrant_id


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every SQL statement the test runs from now on, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


def test_a_page_costs_two_queries(
    session: Session,
    viewer: User,
    world: HistoryWorld,
    statements: list[tuple[str, Any]],
) -> None:
    registrant_id = _fresh(session, viewer, world)
    statements.clear()
    page = registrant_history(session, viewer, registrant_id, limit=50)
    assert len(page.items) == 4
    assert len([s for s, _ in statements if s.lstrip().upper().startswith("SELECT")]) == 2


def test_payments_are_read_through_their_entitlement_indexes(
    session: Session,
    backend: str,
    viewer: User,
    world: HistoryWorld,
    statements: list[tuple[str, Any]],
) -> None:
    """No index holds a payment's registrant; both partial indexes on the entitlement must
    serve the payments query, or a registrant page would read every payment."""
    registrant_id = _fresh(session, viewer, world)
    statements.clear()
    registrant_history(session, viewer, registrant_id, limit=50)
    sql, parameters = next(s for s in statements if "payments.live" in s[0])
    connection = session.connection()
    if backend == "postgres":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = connection.exec_driver_sql(f"EXPLAIN {sql}", parameters).scalars().all()
    else:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters).all()
        plan = [str(row[-1]) for row in rows]
    text_plan = "\n".join(plan)
    assert "uq_payments_live_entitlement" in text_plan, text_plan
    assert "ix_payments_failed_entitlement" in text_plan, text_plan
    session.rollback()


def test_a_disabled_user_is_refused(session: Session, world: HistoryWorld) -> None:
    gone = factories.user(session, "gone", Role.VIEWER, active=False)
    with pytest.raises(PermissionDenied, match="disabled"):
        registrant_history(session, gone, world.registrant.id)


def test_a_cursor_not_made_by_a_page_is_refused(
    session: Session, viewer: User, world: HistoryWorld
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        registrant_history(session, viewer, world.registrant.id, cursor="bm90LWEtY3Vyc29y")
    assert refused.value.errors[0].field == "cursor"
    with pytest.raises(ValidationFailed):
        registrant_history(session, viewer, world.registrant.id, limit=0)
