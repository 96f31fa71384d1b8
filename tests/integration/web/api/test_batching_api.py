"""``POST /cycles/{id}/batches`` (a job) and ``POST /cycles/{id}/payments/cancel``: payments
issued without a batch batched, a batch and a payment cancelled, refusals with their reasons."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.states import BatchState, PaymentState, set_batch_state
from g2p_payment_phee.programs.models import Cycle, ManagerKind
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.web.api.conftest import Api
from tests.integration.web.api.world import NOWHERE, SECRETS

V1 = "/api/v1"


def _cycle(session: Session, admin: User, approver: User) -> Cycle:
    program = factories.program(session, admin)
    settings = {"tenant_id": "gorilla", "payee_id_type": "phone", "create_batch": False}
    configure_manager(
        session, admin, program, ManagerKind.PHEE, {**settings, **NOWHERE}, dict(SECRETS)
    )
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=5)
    service.prepare_cycle(session, admin, cycle)
    session.commit()
    return cycle


def _batches(session: Session, cycle: Cycle) -> list[PaymentBatch]:
    session.expire_all()
    query = select(PaymentBatch).where(PaymentBatch.cycle_id == cycle.id)
    return list(session.scalars(query.order_by(PaymentBatch.sequence)))


def test_batching_then_cancelling_through_the_api(
    api: Api, session: Session, admin: User, approver: User
) -> None:
    cycle = _cycle(session, admin, approver)
    path = f"{V1}/cycles/{cycle.id}"
    assert api.post(f"{path}/batches", "viewer").status_code == 403
    too_small = api.post(f"{path}/batches", "program_manager", json={"max_size": 0})
    assert too_small.status_code == 422
    accepted = api.post(f"{path}/batches", "program_manager", json={"max_size": 2})
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["Location"] == f"{V1}/jobs/{accepted.json()['id']}"
    job = api.wait(accepted.json())
    assert job["state"] == "succeeded", job
    assert (job["result"]["batched"], job["result"]["batches"]) == (5, 3)
    again = api.post(f"{path}/batches", "program_manager")
    assert again.status_code == 409
    assert "no payment waiting for a batch" in again.json()["error"]["message"]

    first, second, third = _batches(session, cycle)
    no_reason = api.post(f"{path}/payments/cancel", "program_manager", json={"reason": ""})
    assert no_reason.status_code == 422
    cancelled = api.ok(
        "POST",
        f"{path}/payments/cancel",
        "program_manager",
        json={"reason": "wrong list", "batch_id": str(first.id)},
    )
    assert cancelled["cancelled"] == 2
    assert cancelled["amounts"] == {"KES": "200"}
    assert cancelled["batches_cancelled"] == [first.name]
    one = session.scalars(select(Payment.id).where(Payment.batch_id == second.id)).first()
    shrunk = api.ok(
        "POST",
        f"{path}/payments/cancel",
        "admin",
        json={"reason": "died", "payment_id": str(one)},
    )
    assert (shrunk["cancelled"], shrunk["batches_shrunk"]) == (1, [second.name])

    set_batch_state(session, admin, third, BatchState.SENDING)
    set_batch_state(session, admin, third, BatchState.OUTCOME_UNKNOWN)
    session.commit()
    refused = api.post(
        f"{path}/payments/cancel", "admin", json={"reason": "x", "batch_id": str(third.id)}
    )
    assert refused.status_code == 409
    assert "may have reached the hub" in refused.json()["error"]["message"]
    assert api.post(f"{path}/payments/cancel", "approver", json={"reason": "x"}).status_code == 403
    session.expire_all()
    states = session.scalars(select(Payment.state).where(Payment.cycle_id == cycle.id)).all()
    assert sorted(states) == sorted([PaymentState.CANCELLED] * 3 + [PaymentState.ISSUED] * 2)
