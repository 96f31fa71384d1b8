"""Running jobs: prepare → send → sync against the emulator with results and progress,
failures recorded, a final job never run again, a dead worker's job picked up by the sweep."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.background import Work
from g2p_payment_phee.db import unit_of_work, utcnow
from g2p_payment_phee.jobs import engine, states
from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.jobs.kinds import KINDS, KindSpec
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.jobs.runner import InProcessRunner
from g2p_payment_phee.jobs.sweep import sweep_jobs
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission
from tests import factories
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice

WAIT = 60.0


def _reload(session: Session, job: Job) -> Job:
    session.expire_all()
    fresh = session.get(Job, job.id)
    assert fresh is not None
    return fresh


def _note(runs: list[int], value: int, result: dict[str, Any]) -> dict[str, Any]:
    runs.append(value)
    return result


def _run(session: Session, runner: InProcessRunner, actor: User, kind: str, **params: Any) -> Job:
    job = jobs.submit(session, actor, kind, params)
    session.commit()
    assert runner.wait(job.id, WAIT)
    return _reload(session, job)


def test_prepare_send_sync_jobs_record_results_and_progress(
    phee_program: PheeProgram, runner: InProcessRunner
) -> None:
    p = phee_program
    p.configure(max_batch_size=3)
    cycle = factories.approved_cycle(p.session, p.admin, p.approver, p.program, beneficiaries=7)
    p.session.commit()

    dry = _run(p.session, runner, p.admin, "prepare_cycle", cycle_id=str(cycle.id), dry_run=True)
    assert dry.state is JobState.SUCCEEDED, dry.error
    assert (dry.result or {})["created"] == 7
    assert p.batches(cycle) == []  # a dry run writes nothing

    prepared = _run(p.session, runner, p.admin, "prepare_cycle", cycle_id=str(cycle.id))
    assert prepared.state is JobState.SUCCEEDED, prepared.error
    result = prepared.result or {}
    assert (result["created"], result["batches"], result["totals"]["KES"]["amount"]) == (
        7,
        3,
        "700.00",
    )
    assert (prepared.progress_done, prepared.progress_total) == (7, 7)
    assert prepared.attempts == 1
    assert prepared.started_at is not None
    assert prepared.finished_at is not None

    sent = _run(p.session, runner, p.approver, "send_cycle", cycle_id=str(cycle.id))
    assert sent.state is JobState.SUCCEEDED, sent.error
    assert (sent.result or {})["outcomes"] == {"submitted": 3}
    assert (sent.progress_done, sent.progress_total) == (3, 3)
    assert {b.state for b in p.batches(cycle)} == {BatchState.SUBMITTED}

    p.hub.advance(seconds=3600)  # the emulator finishes every transfer
    synced = _run(p.session, runner, p.approver, "sync_cycle", cycle_id=str(cycle.id))
    assert synced.state is JobState.SUCCEEDED, synced.error
    result = synced.result or {}
    assert result["paid"] + result["failed"] == 7
    assert result["batches"] == 3
    assert synced.message == result["message"]
    assert_nobody_paid_twice(p.hub)


def test_a_business_error_is_recorded_as_the_jobs_error(
    session: Session, admin: User, approver: User, runner: InProcessRunner
) -> None:
    program = factories.program(session, admin)  # no payment manager configured
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=1)
    session.commit()
    job = _run(session, runner, admin, "prepare_cycle", cycle_id=str(cycle.id))
    assert job.state is JobState.FAILED
    assert job.error is not None
    assert job.error.startswith("program 'Cash Transfer' has no payment manager configured")
    assert job.result is None


@pytest.fixture
def custom_kind(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A job kind whose body the test writes (``body`` in the returned dict)."""
    slot: dict[str, Any] = {}
    spec = KindSpec(
        Permission.VIEW,
        lambda s, p: {"n": p.get("n", 0)},
        lambda p: f"t:{p['n']}",
        "t",
        "n",
        lambda work: slot["body"](work),
    )
    monkeypatch.setitem(KINDS, "test_kind", spec)
    return slot


def test_an_unexpected_error_is_logged_and_a_generic_message_stored(
    session: Session,
    admin: User,
    runner: InProcessRunner,
    custom_kind: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(ctx: Work) -> dict[str, Any]:
        raise RuntimeError("internal detail: password=hunter2")

    custom_kind["body"] = explode
    with caplog.at_level(logging.ERROR, logger="g2p_payment_phee.jobs.engine"):
        job = _run(session, runner, admin, "test_kind", n=1)
    assert job.state is JobState.FAILED
    assert job.error == engine.UNEXPECTED
    assert "hunter2" not in (job.error or "") + job.message
    logged = [r for r in caplog.records if r.exc_info]
    assert logged
    assert "RuntimeError" in caplog.text


def test_progress_is_written_while_the_job_runs(
    session: Session, admin: User, runner: InProcessRunner, custom_kind: dict[str, Any]
) -> None:
    reported, release = threading.Event(), threading.Event()

    def slow(ctx: Work) -> dict[str, Any]:
        ctx.progress(3, 10, "three of ten", flush=True)
        reported.set()
        assert release.wait(WAIT)
        ctx.progress(10, message="all ten")
        return {"done": 10}

    custom_kind["body"] = slow
    job = jobs.submit(session, admin, "test_kind", {"n": 2})
    session.commit()
    assert reported.wait(WAIT)
    running = _reload(session, job)
    assert (running.state, running.progress_done, running.progress_total) == (
        JobState.RUNNING,
        3,
        10,
    )
    assert running.message == "three of ten"
    release.set()
    assert runner.wait(job.id, WAIT)
    done = _reload(session, job)
    assert (done.state, done.progress_done, done.result) == (JobState.SUCCEEDED, 10, {"done": 10})


def test_a_final_job_is_not_run_again(
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    runner: InProcessRunner,
    custom_kind: dict[str, Any],
) -> None:
    runs: list[int] = []
    custom_kind["body"] = lambda work: _note(runs, work.attempt, {"ok": True})
    job = _run(session, runner, admin, "test_kind", n=3)
    assert job.state is JobState.SUCCEEDED
    for _ in range(3):  # delivered again, from anywhere
        runner.dispatch(job.id)
    assert runner.wait(job.id, WAIT)
    assert engine.run_job(session_factory, job.id) is None
    assert engine.run_job(session_factory, job.id, "sync_cycle") is None  # not of that kind
    assert engine.run_job(session_factory, uuid.uuid4()) is None  # an id that does not exist
    assert runs == [1]
    assert _reload(session, job).attempts == 1


def test_a_job_of_a_disabled_user_fails_without_running(
    session: Session, admin: User, runner: InProcessRunner, custom_kind: dict[str, Any]
) -> None:
    from g2p_payment_phee.users.models import Role

    runs: list[int] = []
    custom_kind["body"] = lambda ctx: _note(runs, 1, {})
    leaver = factories.user(session, "leaver", Role.ADMIN)
    job = jobs.submit(session, leaver, "test_kind", {"n": 4})
    leaver.active = False
    session.commit()
    assert runner.wait(job.id, WAIT)
    failed = _reload(session, job)
    assert failed.state is JobState.FAILED
    assert "disabled" in (failed.error or "")
    assert runs == []


def test_a_dead_workers_job_is_picked_up_by_the_sweep(
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    runner: InProcessRunner,
    custom_kind: dict[str, Any],
) -> None:
    runs: list[int] = []
    custom_kind["body"] = lambda ctx: _note(runs, ctx.attempt, {"attempt": ctx.attempt})
    from tests.integration.jobs.conftest import RecordingRunner

    parked = RecordingRunner()  # the first dispatch goes nowhere: this worker "dies"
    from g2p_payment_phee.jobs.runner import install_runner

    install_runner(session_factory, parked)
    job = jobs.submit(session, admin, "test_kind", {"n": 5})
    fresh = jobs.submit(session, admin, "test_kind", {"n": 6})
    session.commit()
    with unit_of_work(session_factory) as s:  # both claimed by the worker that then dies
        assert states.claim(s, job.id) == 1
        assert states.claim(s, fresh.id) == 1
        s.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(heartbeat_at=utcnow() - timedelta(minutes=10))
        )

    dispatched = sweep_jobs(session_factory, runner, stale_after=timedelta(minutes=2))
    assert dispatched == [job.id]  # the one with a fresh heartbeat is left alone
    assert runner.wait(job.id, WAIT)
    again = _reload(session, job)
    assert (again.state, again.attempts, again.result) == (JobState.SUCCEEDED, 2, {"attempt": 2})
    assert _reload(session, fresh).state is JobState.RUNNING
    with unit_of_work(session_factory) as s:  # the dead run wakes up: its writes are refused
        assert not states.report(s, job.id, 1, done=99)
        assert not states.finish(s, None, again, 1, JobState.FAILED, error="late")
    assert _reload(session, job).state is JobState.SUCCEEDED
    assert runs == [2]


def test_a_job_whose_dispatch_was_lost_is_dispatched_by_the_sweep(
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    runner: InProcessRunner,
    custom_kind: dict[str, Any],
) -> None:
    custom_kind["body"] = lambda ctx: {"ran": True}
    from g2p_payment_phee.jobs.runner import install_runner
    from tests.integration.jobs.conftest import RecordingRunner

    install_runner(session_factory, RecordingRunner())
    job = jobs.submit(session, admin, "test_kind", {"n": 7})
    session.commit()
    assert sweep_jobs(session_factory, runner) == []  # just queued: not lost yet
    assert sweep_jobs(session_factory, runner, lost_after=timedelta(0)) == [job.id]
    assert runner.wait(job.id, WAIT)
    assert _reload(session, job).result == {"ran": True}


def test_prepare_job_of_a_cycle_already_prepared_says_so(
    phee_program: PheeProgram, runner: InProcessRunner
) -> None:
    p = phee_program
    cycle: Cycle = p.prepared_cycle(2)
    job = _run(p.session, runner, p.admin, "prepare_cycle", cycle_id=str(cycle.id))
    assert job.state is JobState.SUCCEEDED
    assert (job.result or {})["created"] == 0
    assert job.message  # the "nothing to pay" explanation


def test_the_sweep_thread_starts_with_the_app_and_stops_with_it(
    session_factory: sessionmaker[Session],
) -> None:
    from fastapi.testclient import TestClient

    from g2p_payment_phee.web.app import create_app

    def sweepers() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "g2p-job-sweep" and t.is_alive())

    before = sweepers()
    app = create_app(session_factory)
    assert sweepers() == before  # building an app starts no thread
    with TestClient(app):
        assert sweepers() == before + 1
    assert sweepers() == before
