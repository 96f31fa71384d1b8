"""The dashboard's figures: the approved cycles' outcomes and failure reasons, and the money
paid per day, counted from the batches on the day each one completed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee import dashboard
from g2p_payment_phee.payments.outcomes import Outcome
from g2p_payment_phee.payments.states import BatchState, PaymentStatus
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.dashboard_world import REASON, cycle_being_paid, settle
from tests.integration.web.pages.builders import prepared_cycle

TODAY = date(2027, 1, 30)


def test_money_counts_on_the_day_its_batch_completed_within_the_last_30_days(
    session: Session, admin: User, approver: User
) -> None:
    first, second, third = prepared_cycle(session, admin, approver, size=5).batches
    settle(session, first, PaymentStatus.PAID, PaymentStatus.PAID)
    settle(session, second, PaymentStatus.PAID)  # its other payment is still at the hub
    settle(session, third, PaymentStatus.PAID)
    first.completed_at = datetime(2027, 1, 1, 0, 30, tzinfo=UTC)  # the window's first day
    third.completed_at = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)  # the day before it
    session.flush()
    assert second.state is BatchState.SUBMITTED

    (kes,) = dashboard.paid_per_day(session, TODAY)

    assert kes.currency == "KES"
    assert len(kes.days) == 30
    assert kes.days[0] == (date(2027, 1, 1), Decimal(200))
    assert kes.days[-1] == (TODAY, Decimal(0))
    assert kes.total == Decimal(200)
    assert kes.still_open == Decimal(100)


def test_nothing_paid_gives_no_currency(session: Session) -> None:
    assert dashboard.paid_per_day(session, TODAY) == []


def test_approved_cycles_are_drawn_with_their_outcomes_and_reasons(
    session: Session, admin: User, approver: User
) -> None:
    paid = cycle_being_paid(session, admin, approver)
    factories.program(session, admin, name="Not yet approved")  # no cycle to draw

    figures = dashboard.figures(session, admin)

    (line,) = figures.cycles
    assert line.cycle.id == paid.cycle.id
    assert line.outcomes.count(Outcome.PAID) == 3
    assert line.outcomes.count(Outcome.FAILED) == 1
    assert line.outcomes.count(Outcome.NOT_SENT) == 1
    assert figures.reasons == [(REASON, 1)]
    (kes,) = figures.paid_per_day
    assert kes.total == Decimal(300)


def test_no_more_cycles_than_the_cap_are_drawn(
    session: Session, admin: User, approver: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    cycle_being_paid(session, admin, approver)
    monkeypatch.setattr(dashboard, "CYCLES_DRAWN", 0)
    assert dashboard.figures(session, admin).cycles == []
