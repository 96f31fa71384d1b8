"""The cycle page counts people by outcome before attempts, and asks why before marking a cycle
distributed while some beneficiaries were not paid."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_payments, refresh_batches
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentStatus,
    mark_batch_payments_sent,
    set_batch_state,
)
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import CycleState
from g2p_payment_phee.users.models import User
from tests.integration.web.pages.builders import prepared_cycle
from tests.integration.web.pages.conftest import Browser


def test_people_first_and_distribution_with_a_reason(
    session: Session, admin: User, approver: User, as_user: Callable[[User], Browser]
) -> None:
    paid = prepared_cycle(session, admin, approver, size=2)
    [batch] = paid.batches[:1]
    set_batch_state(session, admin, batch, BatchState.SENDING)
    mark_batch_payments_sent(session, batch)
    set_batch_state(session, admin, batch, BatchState.SUBMITTED)
    first, second = session.scalars(select(Payment.id).order_by(Payment.batch_row)).all()
    reconcile_payments(
        session,
        [
            Outcome(first, PaymentStatus.PAID, Decimal(100)),
            Outcome(second, PaymentStatus.FAILED, None, "Payee account closed"),
        ],
    )
    refresh_batches(session, admin, [batch.id])
    session.commit()
    checker = as_user(approver)
    url = f"/cycles/{paid.cycle.id}"
    page = checker.get(url).text
    assert '<td class="num" id="people-paid">1</td>' in page
    assert '<td class="num" id="people-failed">1</td>' in page
    assert "Why not paid: Payee account closed (1)." in page
    assert page.index('id="people"') < page.index('id="attempts"')
    assert 'id="distribute-unpaid"' in page
    assert "1 of 2 approved beneficiaries were not paid (1 failed)" in page

    listed = checker.get(f"{url}/entitlements").text
    assert listed.count('<td class="outcome"><span class="badge s-paid">') == 1
    assert '<span class="badge s-failed">failed</span><br><span class="muted">Payee account' in (
        listed
    )

    refused = checker.post(f"{url}/distribute", {"unpaid_reason": " "}, page=url)
    assert refused.status_code == 409
    assert "mark it distributed with a reason" in refused.text
    done = checker.post(f"{url}/distribute", {"unpaid_reason": "cash at the office"}, page=url)
    assert done.status_code == 303
    session.expire_all()
    assert session.get_one(Cycle, paid.cycle.id).state is CycleState.DISTRIBUTED
