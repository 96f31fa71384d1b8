"""POST /api/v1/phee/callback/{token}: always 200, only a valid token starts a sync job."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.jobs.runner import install_runner
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState, set_batch_state
from g2p_payment_phee.phee.callbacks import callback_token
from g2p_payment_phee.programs.models import ManagerKind
from g2p_payment_phee.security import hash_token
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web import app as web_app
from tests import factories


class RecordingRunner:
    """Runs nothing; remembers the dispatched job ids."""

    def __init__(self) -> None:
        self.dispatched: list[uuid.UUID] = []

    def dispatch(self, job_id: uuid.UUID) -> None:
        self.dispatched.append(job_id)

    def start(self) -> None:
        """No threads."""

    def shutdown(self, wait: bool = True) -> None:
        """Nothing to stop."""


def test_only_a_valid_token_starts_a_sync_job(
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    approver: User,
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
    client = TestClient(web_app.create_app(session_factory))
    runner = RecordingRunner()  # in place of the app's in-process runner: nothing runs
    install_runner(session_factory, runner)
    body = {
        "clientCorrelationId": "x",
        "batchId": "phee-1",
        "message": "The Batch Aggregation API was complete",
    }

    forged = client.post("/api/v1/phee/callback/not-the-token", json=body)
    assert (forged.status_code, forged.json()) == (200, {"status": "received"})
    assert runner.dispatched == []

    token = callback_token(batch.id)
    for _ in range(2):  # a duplicate callback is a replay: nothing recorded, nothing started
        answer = client.post(f"/api/v1/phee/callback/{token}", json=body)
        assert answer.status_code == 200
    session.expire_all()
    job = session.scalars(select(Job)).one()
    assert (job.kind, job.params, job.state) == (
        "sync_batch",
        {"batch_id": str(batch.id)},
        JobState.QUEUED,
    )
    assert job.created_by == "system"
    assert runner.dispatched == [job.id]  # after the callback's transaction committed

    job.state = JobState.SUCCEEDED  # once that sync has run, a new callback starts another
    session.commit()
    client.post(f"/api/v1/phee/callback/{token}", json=body)  # a replay still starts none
    session.expire_all()
    assert len(session.scalars(select(Job)).all()) == 1
    client.post(f"/api/v1/phee/callback/{token}", json={**body, "message": "again"})
    session.expire_all()
    assert len(session.scalars(select(Job)).all()) == 2
    assert len(runner.dispatched) == 2

    other = client.post(f"/api/v1/phee/callback/{token}", json={**body, "batchId": "phee-2"})
    assert other.status_code == 200
    assert len(runner.dispatched) == 2
    garbage = client.post(f"/api/v1/phee/callback/{token}", content=b"\xff not json")
    assert garbage.status_code == 200
    session.expire_all()
    received = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "batch.callback")
    ).all()
    assert len(received) == 3  # the first callback, the new message, the garbage


def test_a_callback_sync_job_reconciles_the_batch(
    session: Session, session_factory: sessionmaker[Session], admin: User, approver: User
) -> None:
    """With the app's own in-process runner, the job runs and syncs: a batch whose hub cannot
    be reached records the sync error and stays submitted (the periodic sync retries)."""
    program = factories.program(session, admin)
    configure_manager(
        session,
        admin,
        program,
        ManagerKind.PHEE,
        {
            "tenant_id": "t",
            "payee_id_type": "phone",
            "status_endpoint_url": "http://127.0.0.1:9/api/v1/batch",
            "details_endpoint_url": "http://127.0.0.1:9/api/v1/batch/detail",
            "batch_request_timeout": 1,
        },
    )
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=1)
    service.prepare_cycle(session, admin, cycle)
    batch = session.scalars(select(PaymentBatch)).one()
    set_batch_state(
        session,
        admin,
        batch,
        BatchState.SENDING,
        callback_token_hash=hash_token(callback_token(batch.id)),
    )
    set_batch_state(session, admin, batch, BatchState.SUBMITTED, phee_batch_id="phee-9")
    session.commit()
    app = web_app.create_app(session_factory)
    with TestClient(app) as client:
        client.post(f"/api/v1/phee/callback/{callback_token(batch.id)}", json={"batchId": "phee-9"})
        job = session.scalars(select(Job)).one()
        assert app.state.job_runner.wait(job.id, 60)
    session.expire_all()
    job = session.scalars(select(Job)).one()
    assert job.state is JobState.SUCCEEDED, job.error
    assert (job.result or {})["batches"] == 1
    assert len((job.result or {})["errors"]) == 1
    session.refresh(batch)
    assert batch.state is BatchState.SUBMITTED
