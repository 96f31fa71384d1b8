"""The registrant page's payment history (every program and cycle, every attempt, linked to
its cycle and batch, a page at a time), and payments lists naming their registrants."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.pages import registrants
from tests.integration.payments.history_world import FAILURE, HistoryWorld, build_history
from tests.integration.web.pages.conftest import Browser


@pytest.fixture
def world(session: Session, admin: User, approver: User) -> HistoryWorld:
    return build_history(session, admin, approver)


def _batch_ids(session: Session, world: HistoryWorld) -> list[str]:
    cycles = [world.paid.id, world.retried.id, world.cancelled.id]
    query = select(PaymentBatch.id).where(PaymentBatch.cycle_id.in_(cycles))
    return [str(batch_id) for batch_id in session.scalars(query)]


def test_the_registrant_page_shows_every_entitlement_and_attempt_with_links(
    session: Session, world: HistoryWorld, viewer: User, as_user: Callable[[User], Browser]
) -> None:
    page = as_user(viewer).get("/registrants/B000000")
    assert page.status_code == 200
    html = page.text
    assert "Payment history" in html
    cycles = [world.rejected, world.cancelled, world.retried, world.paid]
    spots = [html.index(f'href="/cycles/{cycle.id}"') for cycle in cycles]
    assert spots == sorted(spots), "newest cycle first"
    for batch_id in _batch_ids(session, world):
        assert f'href="/batches/{batch_id}"' in html
    assert "Food Support" in html
    assert "Cash Transfer" in html
    assert FAILURE in html
    assert "after 2 attempts" in html
    for word in ("rejected", "cancelled", "failed", "paid"):
        assert f'class="badge s-{word}"' in html
    assert "More payment history" not in html


def test_more_history_follows_on_a_next_page(
    world: HistoryWorld,
    viewer: User,
    as_user: Callable[[User], Browser],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registrants, "HISTORY_PAGE_SIZE", 3)
    browser = as_user(viewer)
    first = browser.get("/registrants/B000000").text
    assert f"/cycles/{world.paid.id}" not in first
    more = first.split("More payment history")[0].rsplit('href="', 1)[1].split('"')[0]
    assert more.startswith("?cursor=")
    second = browser.get("/registrants/B000000" + more.replace("&amp;", "&")).text
    assert f'href="/cycles/{world.paid.id}"' in second
    assert f"/cycles/{world.rejected.id}" not in second
    assert "More payment history" not in second
    assert "Newest first" in second


def test_payments_lists_name_their_registrants_with_a_link(
    session: Session, world: HistoryWorld, viewer: User, as_user: Callable[[User], Browser]
) -> None:
    browser = as_user(viewer)
    batch = _batch_ids(session, world)[0]
    for url in (f"/batches/{batch}", f"/payments?cycle={world.paid.id}"):
        html = browser.get(url).text
        for reference, name in (("B000000", "Beneficiary 0"), ("B000001", "Beneficiary 1")):
            link = f'<a href="/registrants/{reference}#payment-history"><bdi>{name}</bdi></a>'
            assert link in html, url
