"""The cycle's entitlements page: listed with their registrant, filtered by state; while the
cycle waits for approval an approver rejects one (the reason required), and a maker sees no
reject form."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.programs.models import Cycle, Entitlement
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.web.pages.conftest import Browser


def _pending(session: Session, manager: User) -> tuple[Cycle, list[str]]:
    cycle = factories.pending_cycle(session, manager, beneficiaries=3)
    session.commit()
    codes = sorted(
        session.scalars(select(Entitlement.code).where(Entitlement.cycle_id == cycle.id))
    )
    return cycle, codes


def _reject_forms(html: str) -> list[str]:
    return re.findall(r'action="/cycles/[^/]+/entitlements/([^/]+)/reject"', html)


def test_an_approver_rejects_an_entitlement_from_the_list(
    session: Session, manager: User, approver: User, as_user: Callable[[User], Browser]
) -> None:
    cycle, codes = _pending(session, manager)
    checker = as_user(approver)
    cycle_page = checker.get(f"/cycles/{cycle.id}").text
    assert "Review and reject entitlements" in cycle_page
    url = f"/cycles/{cycle.id}/entitlements?state=pending_validation"
    listing = checker.get(url).text
    assert sorted(_reject_forms(listing)) == codes
    assert '<a href="/registrants/R000000">R000000</a>' in listing  # its registrant

    blank = checker.post(
        f"/cycles/{cycle.id}/entitlements/{codes[0]}/reject", {"reason": " "}, page=url
    )
    assert blank.status_code == 422
    assert f"{codes[0]}: say why the entitlement is rejected" in blank.text
    done = checker.post(
        f"/cycles/{cycle.id}/entitlements/{codes[0]}/reject", {"reason": "duplicate"}, page=url
    )
    assert done.status_code == 303
    assert done.headers["location"] == url
    after = checker.get(url).text
    assert f"Entitlement {codes[0]} rejected" in after
    assert sorted(_reject_forms(after)) == codes[1:]
    rejected = checker.get(f"/cycles/{cycle.id}/entitlements?state=rejected").text
    assert codes[0] in rejected
    assert _reject_forms(rejected) == []
    session.expire_all()
    states = dict(session.execute(select(Entitlement.code, Entitlement.state)).tuples().all())
    assert states[codes[0]] is EntitlementState.REJECTED


def test_a_maker_sees_the_list_but_no_reject_form(
    session: Session, manager: User, as_user: Callable[[User], Browser]
) -> None:
    cycle, codes = _pending(session, manager)
    maker = as_user(manager)
    listing = maker.get(f"/cycles/{cycle.id}/entitlements").text
    assert all(code in listing for code in codes)
    assert _reject_forms(listing) == []
    assert "Every entitlement" in maker.get(f"/cycles/{cycle.id}").text
    refused = maker.post(
        f"/cycles/{cycle.id}/entitlements/{codes[0]}/reject",
        {"reason": "mine"},
        page=f"/cycles/{cycle.id}",
    )
    assert refused.status_code == 403
