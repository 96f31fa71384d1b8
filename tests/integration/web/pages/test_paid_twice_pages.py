"""The pages show what the hub says that people must act on (SPEC 2.3): payments paid more than
once on the cycle page (with the approver's acknowledge form) and on the dashboard, and why a
batch being sent or with an unknown outcome waits, until when."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.payments.duplicates import record_duplicate_batches
from g2p_payment_phee.payments.models import DuplicatePayment
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import CycleState
from g2p_payment_phee.users.models import User
from tests.integration.web.hub_findings import (
    hub_pays_twice,
    local_time,
    outcome_unknown,
    paid_cycle,
)
from tests.integration.web.pages.builders import prepared_cycle
from tests.integration.web.pages.conftest import Browser

ALERT = 'role="alert" id="paid-twice"'
FORM = 'id="acknowledge-paid-twice"'


def _part(html: str, element_id: str) -> str:
    """The element with that id, up to the end of its (un-nested) section, div or p."""
    found = re.search(rf'<(section|div|p)[^>]*id="{element_id}".*?</\1>', html, re.S)
    assert found, f"no element #{element_id}"
    return found.group(0)


def test_the_cycle_page_and_dashboard_show_payments_paid_twice_until_acknowledged(
    as_user: Callable[[User], Browser],
    session: Session,
    admin: User,
    approver: User,
    manager: User,
    viewer: User,
) -> None:
    paid = paid_cycle(session, admin, approver, size=3)
    twice = hub_pays_twice(session, paid)[0]
    url = f"/cycles/{paid.cycle.id}"
    watcher, maker, checker = as_user(viewer), as_user(manager), as_user(approver)

    page = watcher.get(url).text
    assert ALERT in page
    alert = _part(page, "paid-twice")
    assert "PAID TWICE: PHEE reports 1 payments paid more than once" in alert
    assert "cannot be marked distributed" in alert
    assert str(twice.id) in alert
    for shown in ("PHEE-1", "PHEE-DUP", f"TX-{twice.id}", "TX-DUP-0", "200.00 KES", "not yet"):
        assert shown in alert
    assert FORM not in page
    assert FORM not in maker.get(url).text
    board = _part(watcher.get("/").text, "paid-twice")
    cycle_link = (
        f'<a href="/cycles/{paid.cycle.id}"><bdi>Cash Transfer</bdi>, cycle <bdi>C1</bdi></a>'
    )
    assert cycle_link in board
    assert "1 payments not acknowledged (200.00 KES paid for them)" in board

    for browser in (watcher, maker):
        denied = browser.post(f"{url}/paid-twice/acknowledge", {"reason": "ok"}, page=url)
        assert denied.status_code == 403
        assert "may not approve" in denied.text
    refused = checker.post(f"{url}/distribute", page=url)
    assert refused.status_code == 409
    assert "PAID TWICE" in _part(refused.text, "refusal")
    assert FORM in checker.get(url).text
    blank = checker.post(f"{url}/paid-twice/acknowledge", {"reason": "  "}, page=url)
    assert blank.status_code == 409
    assert "needs a reason" in _part(blank.text, "refusal")
    session.expire_all()
    assert session.scalars(select(DuplicatePayment.acknowledged_at)).one() is None

    done = checker.post(f"{url}/paid-twice/acknowledge", {"reason": "recovered"}, page=url)
    assert done.status_code == 303
    assert done.headers["location"] == url
    page = checker.get(url).text
    alert = _part(page, "paid-twice")  # still shown: never hidden
    assert "all acknowledged" in alert
    assert "UTC: recovered" in alert
    assert FORM not in page
    assert 'id="paid-twice"' not in watcher.get("/").text
    assert checker.post(f"{url}/distribute", page=url).status_code == 303
    session.expire_all()
    assert session.get_one(Cycle, paid.cycle.id).state is CycleState.DISTRIBUTED


def test_the_batch_page_names_the_other_phee_batches(
    as_user: Callable[[User], Browser], session: Session, admin: User, approver: User
) -> None:
    paid = paid_cycle(session, admin, approver, size=3)
    first, second = paid.batches
    record_duplicate_batches(session, None, first, ["PHEE-1", "PHEE-9"])
    browser = as_user(admin)
    notice = _part(browser.get(f"/batches/{first.id}").text, "phee-duplicates")
    assert "PHEE-9" in notice
    assert "PHEE-1<" not in notice  # its own PHEE id is not a duplicate
    assert 'id="phee-duplicates"' not in browser.get(f"/batches/{second.id}").text
    cycle_alert = _part(browser.get(f"/cycles/{paid.cycle.id}").text, "batches-duplicated")
    assert first.name in cycle_alert
    assert "PHEE-9" in cycle_alert


def test_cycle_and_batch_pages_say_why_a_batch_waits_and_until_when(
    as_user: Callable[[User], Browser], session: Session, admin: User, approver: User
) -> None:
    cycle = prepared_cycle(session, admin, approver, size=3)
    waiting, other = cycle.batches
    started = outcome_unknown(session, waiting)
    until = local_time(started + get_settings().unknown_outcome_quiet)
    browser = as_user(admin)

    notice = _part(browser.get(f"/cycles/{cycle.cycle.id}").text, "waiting-batches")
    assert f'<span class="mono">{waiting.name}</span>' in notice
    assert other.name not in notice
    assert f"it is looked up, never resent, until {until}" in notice
    batch_notice = _part(browser.get(f"/batches/{waiting.id}").text, "waiting")
    assert f"never resent, until {until}" in batch_notice
    assert 'id="waiting"' not in browser.get(f"/batches/{other.id}").text
    assert ALERT not in browser.get(f"/cycles/{cycle.cycle.id}").text
