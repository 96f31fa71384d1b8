"""The API's cycle answer counts people by outcome, apart from attempts; distribute wants a
reason when some beneficiaries were not paid."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_payments, refresh_batches
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentStatus,
    mark_batch_payments_sent,
    set_batch_state,
)
from g2p_payment_phee.programs.models import ManagerKind
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.web.api.conftest import Api
from tests.integration.web.api.world import NOWHERE, SECRETS


def test_people_attempts_and_distribution_with_a_reason(
    api: Api, session: Session, admin: User, approver: User
) -> None:
    program = factories.program(session, admin)
    settings = {"tenant_id": "gorilla", "payee_id_type": "phone", **NOWHERE}
    configure_manager(session, admin, program, ManagerKind.PHEE, settings, dict(SECRETS))
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=3)
    service.prepare_cycle(session, admin, cycle)
    batch = session.scalars(select(PaymentBatch)).one()
    set_batch_state(session, admin, batch, BatchState.SENDING)
    mark_batch_payments_sent(session, batch)
    set_batch_state(session, admin, batch, BatchState.SUBMITTED)
    ids = session.scalars(select(Payment.id).order_by(Payment.batch_row)).all()
    reconcile_payments(
        session,
        [
            Outcome(ids[0], PaymentStatus.PAID, Decimal(100)),
            Outcome(ids[1], PaymentStatus.PAID, Decimal(100)),
            Outcome(ids[2], PaymentStatus.FAILED, None, "Blocked"),
        ],
    )
    refresh_batches(session, admin, [batch.id])
    session.commit()

    answer = api.ok("GET", f"/api/v1/cycles/{cycle.id}", "viewer")
    people = answer["people"]
    assert people["approved"] == {"count": 3, "amount": "300"}
    assert people["outcomes"] == {
        "paid": {"count": 2, "amount": "200"},
        "failed": {"count": 1, "amount": "100"},
    }
    assert (people["amount_paid"], people["not_paid"]) == ("200", 1)
    assert people["reasons"] == [{"reason": "Blocked", "people": 1}]
    assert answer["attempts"] == {"made": 3, "failed": 1}

    listed = api.ok("GET", f"/api/v1/cycles/{cycle.id}/entitlements", "viewer")["items"]
    assert sorted((e["outcome"], e["attempts"], e["not_paid_reason"]) for e in listed) == [
        ("failed", 1, "Blocked"),
        ("paid", 1, None),
        ("paid", 1, None),
    ]

    url = f"/api/v1/cycles/{cycle.id}/distribute"
    refused = api.post(url, "approver")
    assert refused.status_code == 409
    assert "1 of 3 approved beneficiaries were not paid (1 failed)" in refused.text
    done = api.ok("POST", url, "approver", json={"unpaid_reason": "paid by the county office"})
    assert done["cycle"]["state"] == "distributed"
    assert "were not paid" in done["message"]
