"""The cycle page's "Add to batches" and "Cancel payments not sent", the batch page's "Cancel
this batch": what they do, and a refusal shown with its reason."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.states import BatchState, PaymentState, set_batch_state
from g2p_payment_phee.users.models import User
from tests.integration.web.pages.builders import prepared_cycle
from tests.integration.web.pages.conftest import Browser


def test_waiting_payments_are_batched_from_the_cycle_page(
    session: Session,
    admin: User,
    approver: User,
    manager: User,
    viewer: User,
    as_user: Callable[[User], Browser],
) -> None:
    paid = prepared_cycle(session, admin, approver, size=3)
    # the last batch's payment taken out of it, as if issued without a batch
    cycle = paid.cycle
    session.execute(
        update(Payment)
        .where(Payment.batch_id == paid.batches[1].id)
        .values(batch_id=None, batch_row=None)
    )
    set_batch_state(session, admin, paid.batches[1], BatchState.CANCELLED)
    session.commit()
    page = f"/cycles/{cycle.id}"
    assert 'id="add-to-batches"' not in as_user(viewer).get(page).text
    browser = as_user(manager)
    shown = browser.get(page).text
    assert 'id="add-to-batches"' in shown
    assert "1 issued payments wait for a batch" in shown
    refused = browser.post(f"{page}/batches", {"max_size": "many"}, page=page)
    assert refused.status_code == 422
    assert "a whole number" in refused.text
    started = browser.post(f"{page}/batches", {"max_size": "5"}, page=page)
    assert started.status_code == 303
    assert started.headers["location"].startswith("/jobs/")
    runner = browser.client.app.state.job_runner  # type: ignore[attr-defined]
    job_id = uuid.UUID(started.headers["location"].rsplit("/", 1)[1])
    assert runner.wait(job_id, timeout=60)
    assert "1 payments in 1 new batches" in browser.get(started.headers["location"]).text
    assert 'id="add-to-batches"' not in browser.get(page).text
    assert browser.post(f"{page}/batches", page=page).status_code == 409


def test_cancelling_from_the_cycle_and_batch_pages(
    session: Session,
    admin: User,
    approver: User,
    manager: User,
    as_user: Callable[[User], Browser],
) -> None:
    paid = prepared_cycle(session, admin, approver, size=5)
    first, second, third = paid.batches
    set_batch_state(session, admin, third, BatchState.SENDING)
    set_batch_state(session, admin, third, BatchState.OUTCOME_UNKNOWN)
    session.commit()
    browser = as_user(manager)
    batch_page = f"/batches/{first.id}"
    assert "Cancel this batch" in browser.get(batch_page).text
    assert "Cancel this batch" not in browser.get(f"/batches/{third.id}").text
    done = browser.post(f"{batch_page}/cancel", {"reason": "wrong list"}, page=batch_page)
    assert done.status_code == 303
    assert "Cancelled 2 payments and 1 batch" in browser.get(batch_page).text

    refused = browser.post(f"/batches/{third.id}/cancel", {"reason": "x"}, page=batch_page)
    assert refused.status_code == 303
    assert "may have reached the hub" in browser.get(f"/batches/{third.id}").text

    page = f"/cycles/{paid.cycle.id}"
    assert "Cancel payments not sent" in browser.get(page).text
    no_reason = browser.post(f"{page}/payments/cancel", {"reason": ""}, page=page)
    assert no_reason.status_code == 422
    everything = browser.post(f"{page}/payments/cancel", {"reason": "budget cut"}, page=page)
    assert everything.status_code == 303
    shown = browser.get(page).text
    assert "Cancelled 2 payments and 1 batch; 1 batch left alone" in shown
    session.expire_all()
    states = session.scalars(
        select(PaymentBatch.state)
        .where(PaymentBatch.cycle_id == paid.cycle.id)
        .order_by(PaymentBatch.sequence)
    ).all()
    assert states == [BatchState.CANCELLED, BatchState.CANCELLED, BatchState.OUTCOME_UNKNOWN]
    cancelled = session.scalars(
        select(Payment.id).where(Payment.state == PaymentState.CANCELLED)
    ).all()
    assert len(cancelled) == 4
    assert second.id != first.id
