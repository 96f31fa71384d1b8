"""Guidance on the cycle's pages: approval asks for confirmation showing people and money, and
the fees appear beside the amounts."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from g2p_payment_phee.programs import service
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.web.pages.conftest import Browser


def test_approval_is_confirmed_on_a_page_showing_people_and_money(
    session: Session,
    manager: User,
    approver: User,
    viewer: User,
    as_user: Callable[[User], Browser],
) -> None:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=3)
    service.submit_cycle(session, manager, cycle)
    session.commit()
    checker = as_user(approver)
    url = f"/cycles/{cycle.id}"
    cycle_page = checker.get(url).text
    assert f'<a href="{url}/approve" id="approve">Approve…</a>' in cycle_page
    assert f'action="{url}/approve"' not in cycle_page  # no one-click approval
    confirm = checker.get(f"{url}/approve").text
    assert '<dd id="approve-people">3</dd>' in confirm
    assert '<dd id="approve-amount">300.00 KES</dd>' in confirm
    assert '<dd id="approve-fees">0.00 KES</dd>' in confirm
    assert "Approve 3 entitlements (300.00 KES)</button>" in confirm
    assert as_user(viewer).get(f"{url}/approve").status_code == 403
    done = checker.post(f"{url}/approve", page=f"{url}/approve")
    assert done.status_code == 303
    after = checker.get(f"{url}/approve").text
    assert "This cycle is approved: there is nothing to approve." in after
    assert 'id="confirm-approve"' not in after
    # the totals written at approval keep the fees
    assert '<td class="num">300.00 KES</td><td class="num">0.00 KES</td>' in checker.get(url).text


def test_the_cycle_page_shows_fees_beside_amounts(
    session: Session, manager: User, as_user: Callable[[User], Browser]
) -> None:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=0)
    factories.registrant(session, "FEE-1")
    factories.registrant(session, "FEE-2")
    service.enrol(session, manager, program)
    service.add_fixed_entitlements(session, manager, cycle, amount="1500", transfer_fee="12.50")
    session.commit()
    page = as_user(manager).get(f"/cycles/{cycle.id}").text
    assert '<th class="num">Fees</th>' in page
    assert '<td class="num">3,000.00 KES</td><td class="num">25.00 KES</td>' in page
