"""Guidance on the cycle's pages: approval asks for confirmation showing people and money, and
the fees appear beside the amounts."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.orm import Session

from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.programs import service
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.web.pages.builders import prepared_cycle
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


def test_the_next_step_follows_the_cycle_on_its_page_and_the_dashboard(
    session: Session,
    admin: User,
    approver: User,
    manager: User,
    as_user: Callable[[User], Browser],
) -> None:
    program = factories.program(session, manager, name="Draft program")
    draft = factories.cycle_with_entitlements(session, manager, program, beneficiaries=1)
    paid = prepared_cycle(session, admin, approver, size=3)  # 2 batches of at most 2
    session.commit()
    browser = as_user(manager)

    def step(cycle_id: object) -> str:
        page = browser.get(f"/cycles/{cycle_id}").text
        found = re.search(
            r'<p class="next-step" id="next-step">Next: (<a href="[^"]*">[^<]*</a>)', page
        )
        assert found is not None, page[:3000]
        assert found.group(1) in browser.get("/").text  # the dashboard says the same
        return found.group(1)

    assert step(draft.id) == (
        f'<a href="/cycles/{draft.id}">Check the entitlements, then submit the cycle for '
        "approval</a>"
    )
    cycle = f"/cycles/{paid.cycle.id}"
    assert step(paid.cycle.id) == f'<a href="{cycle}/send">Send the 2 batches to the hub</a>'
    ids = [batch.id for batch in paid.batches]
    moved = update(PaymentBatch).where(PaymentBatch.id.in_(ids))
    session.execute(moved.values(state=BatchState.SUBMITTED))
    session.commit()
    assert step(paid.cycle.id) == (
        f'<a href="{cycle}/sync">Wait for the hub to pay 2 batches (the sweep syncs them), '
        "or sync now</a>"
    )
    session.execute(moved.values(state=BatchState.COMPLETED, failed_count=1))
    session.commit()
    assert step(paid.cycle.id) == (
        f'<a href="{cycle}">Retry the failed payments, or mark the cycle distributed</a>'
    )
