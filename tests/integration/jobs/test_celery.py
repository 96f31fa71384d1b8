"""Scale mode with real parts: Celery worker processes, Redis, PostgreSQL, the emulator.

A job runs end to end through the workers; workers racing for the same batches upload each
once; a worker killed between the upload and the database commit causes no second upload (the
sweep finds the batch by lookup); messages delivered twice, for unknown ids, or from an older
version do no harm.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import unit_of_work, utcnow
from g2p_payment_phee.jobs import celery_app
from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.jobs import sweep as sweeping
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.jobs.runner import install_runner
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState
from tests.integration.jobs.celery_workers import Worker, reloaded_job, wait_until, worker_env
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice

pytestmark = pytest.mark.postgres
SECRET = "celery-test-secret-key-0123456789abcdef"
QUEUE = f"g2p-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def backend() -> str:
    """These tests need PostgreSQL (several processes share the database)."""
    return "postgres"


def _settings(db_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    return {
        "G2P_DATABASE_URL": db_url,
        "G2P_SECRET_KEY": SECRET,
        "G2P_BROKER_URL": redis_url,
        "G2P_JOB_RUNNER": "celery",
        "G2P_CELERY_QUEUE": QUEUE,
        "G2P_DATA_DIR": str(data_dir),
        "G2P_LOG_LEVEL": "INFO",
    }


@pytest.fixture(scope="module")
def worker_settings(
    _postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    import redis

    redis.Redis.from_url(redis_url).delete(QUEUE)
    return _settings(_postgres_url, redis_url, tmp_path_factory.mktemp("workers"))


@pytest.fixture
def start_worker(
    worker_settings: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[str], Worker]]:
    """Starts named workers of this test (stopped at its end)."""
    started: list[Worker] = []

    def start(name: str) -> Worker:
        worker = Worker(worker_env(worker_settings), name, tmp_path)
        started.append(worker)
        return worker.wait_ready()

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def scale(
    worker_settings: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    session_factory: sessionmaker[Session],
) -> sessionmaker[Session]:
    """This process in scale mode too: the same settings, jobs dispatched to Celery."""
    for name, value in worker_settings.items():
        if name != "G2P_DATA_DIR":
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    celery_app.app.conf.update(celery_app.celery_config(get_settings()))
    install_runner(session_factory, celery_app.CeleryRunner())
    return session_factory


def job_final(session: Session, job_id: uuid.UUID) -> Callable[[], bool]:
    def final() -> bool:
        session.expire_all()
        job = session.get(Job, job_id)
        return job is not None and job.state in (JobState.SUCCEEDED, JobState.FAILED)

    return final


def _submit_and_wait(p: PheeProgram, actor: Any, kind: str, **params: Any) -> Job:
    job = jobs.submit(p.session, actor, kind, params)
    p.session.commit()
    wait_until(job_final(p.session, job.id), what=f"{kind} job")
    return reloaded_job(p.session, job.id)


def test_a_cycle_is_prepared_sent_and_synced_by_celery_workers(
    scale: sessionmaker[Session],
    phee_program: PheeProgram,
    start_worker: Callable[[str], Worker],
    runner: Any,
) -> None:
    p = phee_program
    start_worker("one")
    p.configure(max_batch_size=2)
    from tests import factories

    cycle = factories.approved_cycle(p.session, p.admin, p.approver, p.program, beneficiaries=9)
    p.session.commit()
    prepared = _submit_and_wait(p, p.admin, "prepare_cycle", cycle_id=str(cycle.id))
    assert prepared.state is JobState.SUCCEEDED, prepared.error
    assert ((prepared.result or {})["created"], (prepared.result or {})["batches"]) == (9, 5)

    sent = _submit_and_wait(p, p.approver, "send_cycle", cycle_id=str(cycle.id))
    assert sent.state is JobState.SUCCEEDED, sent.error
    assert {b.state for b in p.batches(cycle)} == {BatchState.SUBMITTED}
    assert (sent.result or {})["states"] == {"submitted": 5}

    p.hub.advance(seconds=3600)
    synced = _submit_and_wait(p, p.approver, "sync_cycle", cycle_id=str(cycle.id))
    assert synced.state is JobState.SUCCEEDED, synced.error
    assert (synced.result or {})["paid"] + (synced.result or {})["failed"] == 9
    report = assert_nobody_paid_twice(p.hub)
    assert len(report["request_ids"]) == 9


def test_workers_racing_for_the_same_batches_upload_each_once(
    scale: sessionmaker[Session],
    phee_program: PheeProgram,
    start_worker: Callable[[str], Worker],
    runner: Any,
) -> None:
    p = phee_program
    p.configure(max_batch_size=2)
    cycle = p.prepared_cycle(6)
    batches = p.batches(cycle)
    start_worker("one")
    start_worker("two")
    job = jobs.submit(p.session, p.approver, "send_cycle", {"cycle_id": str(cycle.id)})
    p.session.commit()  # the send job fans out, and each batch is also asked for twice more
    p.hub.set_faults({"rules": [{"kind": "slow", "endpoints": ["upload"], "seconds": 0.3}]})
    for _ in range(2):
        for batch in batches:
            celery_app.send_batches_task.delay([str(batch.id)], p.approver.username)
    wait_until(job_final(p.session, job.id), what="send job")

    def all_submitted() -> bool:
        return {b.state for b in p.batches(cycle)} == {BatchState.SUBMITTED}

    wait_until(all_submitted, what="every batch submitted")
    assert [b.send_attempts for b in p.batches(cycle)] == [1, 1, 1]
    report = assert_nobody_paid_twice(p.hub)
    assert sorted(v["accepted"] for v in report["request_ids"].values()) == [1] * 6


def test_a_worker_killed_between_upload_and_commit_causes_no_second_upload(
    scale: sessionmaker[Session],
    phee_program: PheeProgram,
    start_worker: Callable[[str], Worker],
    runner: Any,
) -> None:
    p = phee_program
    cycle = p.prepared_cycle(3)
    (batch,) = p.batches(cycle)
    # The upload is stored at the hub, then its answer hangs: the worker is between the upload
    # and recording the answer when it dies.
    p.hub.set_faults({"rules": [{"kind": "hang", "endpoints": ["upload"], "seconds": 120}]})
    doomed = start_worker("doomed")
    job = jobs.submit(p.session, p.approver, "send_cycle", {"cycle_id": str(cycle.id)})
    p.session.commit()

    def stored_at_hub() -> bool:
        return len(p.hub.inspect()["request_ids"]) == 3

    wait_until(stored_at_hub, what="the upload stored at the hub")
    doomed.kill()
    p.hub.release_hangs()
    p.hub.clear_faults()
    assert p.batches(cycle)[0].state is BatchState.SENDING
    with unit_of_work(p.factory) as session:  # time passes: the claim and heartbeat go stale
        past = utcnow() - timedelta(hours=1)
        session.execute(update(PaymentBatch).values(lease_until=past))
        session.execute(update(Job).where(Job.id == job.id).values(heartbeat_at=past))

    start_worker("rescuer")
    counts = sweeping.sweep(p.factory, celery_app.CeleryRunner())
    assert counts["jobs"] == 1
    assert counts["released_claims"] == 1
    wait_until(job_final(p.session, job.id), what="the send job, run again")

    def submitted() -> bool:
        return p.batches(cycle)[0].state is BatchState.SUBMITTED

    wait_until(submitted, what="the batch found at the hub")
    assert reloaded_job(p.session, job.id).attempts == 2
    batch = p.batches(cycle)[0]
    assert batch.send_attempts == 2  # the second attempt looked it up and did not upload
    report = assert_nobody_paid_twice(p.hub)
    assert sorted(v["accepted"] for v in report["request_ids"].values()) == [1, 1, 1]


def test_duplicate_unknown_and_old_messages_do_no_harm(
    scale: sessionmaker[Session],
    phee_program: PheeProgram,
    start_worker: Callable[[str], Worker],
    runner: Any,
) -> None:
    p = phee_program
    steady = start_worker("only")
    cycle = p.prepared_cycle(1)
    done = _submit_and_wait(p, p.approver, "send_cycle", cycle_id=str(cycle.id))
    assert done.state is JobState.SUCCEEDED
    batch = p.batches(cycle)[0]
    ghost = uuid.uuid4()
    marker = uuid.uuid4().hex
    celery_app.run_job_task.delay(str(done.id))  # delivered again
    celery_app.run_job_task.delay(str(ghost))  # an id that does not exist
    celery_app.send_batches_task.delay([str(batch.id)], p.approver.username)  # already submitted
    celery_app.run_job_task.delay("not-an-id")
    celery_app.app.send_task(  # an older/newer version's arguments
        "g2p.run_job", kwargs={"job_id": str(done.id), "priority_hint": marker}, queue=QUEUE
    )
    steady.wait_for(lambda line: "priority_hint" in line and "ignoring" in line)
    steady.wait_for(lambda line: str(ghost) in line and "does not exist" in line)
    steady.wait_for(lambda line: "'not-an-id' is not an id" in line)
    again = reloaded_job(p.session, done.id)
    assert (again.state, again.attempts) == (JobState.SUCCEEDED, 1)
    assert p.batches(cycle)[0].send_attempts == 1
    assert_nobody_paid_twice(p.hub)
