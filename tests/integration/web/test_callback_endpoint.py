"""POST /api/v1/phee/callback/{token}: always 200, only a valid token triggers a sync."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState, set_batch_state
from g2p_payment_phee.phee.send import callback_token
from g2p_payment_phee.programs.models import ManagerKind
from g2p_payment_phee.security import hash_token
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web import app as web_app
from g2p_payment_phee.web.api import callbacks
from tests import factories


def test_only_a_valid_token_asks_for_a_sync(
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    approver: User,
    monkeypatch,
) -> None:
    program = factories.program(session, admin)
    configure_manager(
        session, admin, program, ManagerKind.PHEE, {"tenant_id": "t", "payee_id_type": "phone"}
    )
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=2)
    service.prepare_cycle(session, admin, cycle)
    batch = session.scalars(select(PaymentBatch)).one()
    set_batch_state(
        session,
        admin,
        batch,
        BatchState.SENDING,
        callback_token_hash=hash_token(callback_token(batch.id)),
    )
    set_batch_state(session, admin, batch, BatchState.SUBMITTED, phee_batch_id="phee-1")
    session.commit()
    synced: list[object] = []
    monkeypatch.setattr(
        callbacks, "sync_batch_now", lambda factory, batch_id: synced.append(batch_id)
    )
    client = TestClient(web_app.create_app(session_factory))
    body = {
        "clientCorrelationId": "x",
        "batchId": "phee-1",
        "message": "The Batch Aggregation API was complete",
    }

    forged = client.post("/api/v1/phee/callback/not-the-token", json=body)
    assert (forged.status_code, forged.json()) == (200, {"status": "received"})
    assert synced == []

    token = callback_token(batch.id)
    for _ in range(2):  # a duplicate callback is harmless: it only asks for another sync
        answer = client.post(f"/api/v1/phee/callback/{token}", json=body)
        assert answer.status_code == 200
    assert synced == [batch.id, batch.id]

    other = client.post(f"/api/v1/phee/callback/{token}", json={**body, "batchId": "phee-2"})
    assert other.status_code == 200
    assert len(synced) == 2
    garbage = client.post(f"/api/v1/phee/callback/{token}", content=b"\xff not json")
    assert garbage.status_code == 200
    session.expire_all()
    received = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "batch.callback")
    ).all()
    assert len(received) == 3
