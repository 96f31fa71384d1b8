"""PHEE's callback under abuse: replays record and start nothing, one sync job per batch at
most is pending, each token is rate-limited, and any body is answered 200 without a
traceback."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
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
from g2p_payment_phee.web.api.callbacks import CallbackRateLimiter
from tests import factories
from tests.integration.web.test_callback_endpoint import RecordingRunner

BODY = {"clientCorrelationId": "x", "batchId": "phee-1", "message": "complete"}


@pytest.fixture
def batch(session: Session, admin: User, approver: User) -> PaymentBatch:
    program = factories.program(session, admin)
    configure_manager(
        session, admin, program, ManagerKind.PHEE, {"tenant_id": "t", "payee_id_type": "phone"}
    )
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=1)
    service.prepare_cycle(session, admin, cycle)
    batch = session.scalars(select(PaymentBatch)).one()
    token_hash = hash_token(callback_token(batch.id))
    set_batch_state(session, admin, batch, BatchState.SENDING, callback_token_hash=token_hash)
    set_batch_state(session, admin, batch, BatchState.SUBMITTED, phee_batch_id="phee-1")
    session.commit()
    return batch


@pytest.fixture
def client(session_factory: sessionmaker[Session]) -> TestClient:
    client = TestClient(web_app.create_app(session_factory))
    install_runner(session_factory, RecordingRunner())  # nothing runs: jobs stay queued
    return client


def counts(session: Session) -> tuple[int, int]:
    """(callback audit events, sync jobs)."""
    session.expire_all()
    events = select(func.count()).where(AuditEvent.action == "batch.callback")
    return int(session.scalar(events) or 0), int(session.scalar(select(func.count(Job.id))) or 0)


def test_replays_of_a_body_record_nothing_and_start_nothing(
    session: Session, client: TestClient, batch: PaymentBatch
) -> None:
    url = f"/api/v1/phee/callback/{callback_token(batch.id)}"
    raw = json.dumps(BODY).encode()
    for _ in range(5):
        assert client.post(url, content=raw).status_code == 200
    assert counts(session) == (1, 1)

    session.execute(update(Job).values(state=JobState.SUCCEEDED))
    session.commit()
    assert client.post(url, content=raw).status_code == 200  # still a replay after the sync
    assert counts(session) == (1, 1)


def test_distinct_callbacks_join_the_one_pending_sync_job(
    session: Session, client: TestClient, batch: PaymentBatch
) -> None:
    url = f"/api/v1/phee/callback/{callback_token(batch.id)}"
    for n in range(5):
        assert client.post(url, json={**BODY, "message": f"update {n}"}).status_code == 200
    assert counts(session) == (5, 1)
    [job] = session.scalars(select(Job)).all()
    assert (job.params, job.state) == ({"batch_id": str(batch.id)}, JobState.QUEUED)


def test_a_final_batch_takes_no_callback_at_all(
    session: Session, client: TestClient, batch: PaymentBatch, admin: User
) -> None:
    set_batch_state(session, admin, batch, BatchState.COMPLETED)
    session.commit()
    url = f"/api/v1/phee/callback/{callback_token(batch.id)}"
    assert client.post(url, json={**BODY, "message": "first after completion"}).status_code == 200
    assert counts(session) == (0, 0)


def test_callbacks_past_a_token_burst_are_dropped(
    session: Session, client: TestClient, batch: PaymentBatch
) -> None:
    client.app.state.callback_rate_limiter = CallbackRateLimiter(burst=3, rate=0)  # type: ignore[attr-defined]
    url = f"/api/v1/phee/callback/{callback_token(batch.id)}"
    for n in range(6):
        answer = client.post(url, json={**BODY, "message": f"flood {n}"})
        assert (answer.status_code, answer.json()) == (200, {"status": "received"})
    assert counts(session) == (3, 1)


def test_an_address_trying_made_up_tokens_is_soon_not_heard(
    session: Session,
    client: TestClient,
    batch: PaymentBatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each made-up token would get a fresh bucket of its own: they are counted per address
    too, and past that address's burst nothing it sends reaches the database or the log."""
    client.app.state.unknown_token_limiter = CallbackRateLimiter(burst=2, rate=0)  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING):
        for n in range(5):
            answer = client.post(f"/api/v1/phee/callback/made-up-{n}-{'x' * 30}", json=BODY)
            assert (answer.status_code, answer.json()) == (200, {"status": "received"})
    assert len([r for r in caplog.records if "token" in r.getMessage()]) == 2
    genuine = client.post(f"/api/v1/phee/callback/{callback_token(batch.id)}", json=BODY)
    assert genuine.status_code == 200
    assert counts(session) == (0, 0)  # not heard either, from that address, for a while


def test_the_bucket_refills_and_forgets_old_tokens() -> None:
    now = [0.0]
    limiter = CallbackRateLimiter(burst=2, rate=1.0, tracked=2, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    now[0] = 1.0
    assert [limiter.allow("a") for _ in range(2)] == [True, False]
    limiter.allow("b")
    limiter.allow("c")  # "a" is forgotten: a fresh bucket
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe garbage",
        b"[" * 60_000,  # past the parser's nesting limit, under the cap
        json.dumps({"batchId": 5, "message": [[["x"]]], "clientCorrelationId": None}).encode(),
        json.dumps({"message": "y" * 60_000}).encode(),  # large, under the 64 KB cap
        b'{"batchId": ' + b"9" * 10_000 + b"}",  # past Python's int-from-string limit
        b"",
    ],
    ids=["not-utf8", "deep", "wrong-types", "large", "huge-int", "empty"],
)
def test_any_body_is_answered_200_without_a_traceback(
    session: Session,
    client: TestClient,
    batch: PaymentBatch,
    raw: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for token in (callback_token(batch.id), "unknown", uuid.uuid4().hex * 8):
        answer = client.post(f"/api/v1/phee/callback/{token}", content=raw)
        assert (answer.status_code, answer.json()) == (200, {"status": "received"})
    assert not [r for r in caplog.records if r.exc_info or r.levelname == "ERROR"]
    events, _ = counts(session)
    assert events <= 1
