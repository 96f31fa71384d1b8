"""The dashboard draws the cycles being paid, why people were not paid and the money paid per
day, each picture with its numbers as text beside it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.pages.rendering import when
from tests.integration.dashboard_world import REASON, cycle_being_paid
from tests.integration.web.pages.conftest import Browser


def _section(html: str, element_id: str) -> str:
    found = re.search(rf'<section[^>]*id="{element_id}".*?</section>', html, re.S)
    assert found, f"no section #{element_id}"
    return found.group(0)


def test_the_dashboard_draws_a_cycle_being_paid_with_its_numbers(
    as_user: Callable[[User], Browser],
    session: Session,
    admin: User,
    approver: User,
    viewer: User,
) -> None:
    paid = cycle_being_paid(session, admin, approver)
    page = as_user(viewer).get("/")
    assert page.status_code == 200

    cycles = _section(page.text, "cycles-being-paid")
    assert f'href="/cycles/{paid.cycle.id}"' in cycles
    assert 'role="img" aria-labelledby="cycle-0-title cycle-0-desc"' in cycles
    assert "paid: <strong>3</strong> (60%)" in cycles
    assert "failed: <strong>1</strong> (20%)" in cycles
    assert "6 at most" in cycles
    assert "not sent yet: <strong>1</strong> (20%)" in cycles

    reasons = _section(page.text, "failure-reasons-card")
    assert f"<li><bdi>{REASON}</bdi>: <strong>1</strong></li>" in reasons

    money = _section(page.text, "money-per-day")
    today = when(datetime.now(UTC).date())  # the days are UTC days, shown as dates
    assert f'<td>{today}</td><td class="num">300.00 KES</td>' in money
    assert '<th>Total</th><th class="num">300.00 KES</th>' in money
    assert "style=" not in page.text  # the page's CSP would refuse it


def test_with_nothing_paid_the_dashboard_says_so_instead_of_drawing(
    as_user: Callable[[User], Browser], viewer: User
) -> None:
    page = as_user(viewer).get("/").text
    assert "No approved cycle is being paid." in _section(page, "cycles-being-paid")
    assert 'id="failure-reasons-card"' not in page  # no cycle, no reasons
    assert "No money paid in the last 30 days." in _section(page, "money-per-day")
    assert "<svg" not in page
