"""Scale mode against a misbehaving hub, and sync fanned out to the workers (issue 7, SPEC 9).

Real ``g2p-phee worker`` processes, PostgreSQL, Redis, the emulator over loopback and the web
application served by uvicorn for PHEE's callbacks. Every fault the emulator can inject fires:
5xx before the upload is stored, a dropped connection and a hang after it was stored, a
malformed JSON answer, expired tokens on upload and on status reads, 5xx and malformed JSON on
reads, a failing batch lookup, and three callbacks per batch. Everything that can finish
finishes (the sweep resolves unknown outcomes and syncs) and no request_id is accepted twice.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.jobs import celery_app
from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.jobs import sweep as sweeping
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.jobs.runner import install_runner
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.states import BatchState, PaymentState, PaymentStatus
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.web.app import create_app
from tests.integration.jobs.celery_workers import (
    Worker,
    forget_broker_connections,
    reloaded_job,
    wait_until,
    worker_env,
)
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice

pytestmark = pytest.mark.postgres
SECRET = "resilience-hub-secret-key-0123456789abc"
UPLOAD_FAULTS: list[dict[str, Any]] = [
    {"kind": "error_5xx", "endpoints": ["upload"], "times": 1, "status": 502},  # not stored
    {"kind": "drop", "endpoints": ["upload"], "times": 1},  # stored, then the reset
    {"kind": "hang", "endpoints": ["upload"], "times": 1, "seconds": 10},  # > 2 s timeout
    # held un-stored past the client's timeout, stored 8 s later: found, never resent
    {"kind": "late_store", "endpoints": ["upload"], "times": 1, "seconds": 8},
    {"kind": "malformed_json", "endpoints": ["upload"], "times": 1},  # stored
    {"kind": "token_expired", "endpoints": ["upload"], "times": 1},
]
READ_FAULTS: list[dict[str, Any]] = [
    {"kind": "error_5xx", "endpoints": ["list"], "times": 1},  # the first lookup fails
    {"kind": "token_expired", "endpoints": ["status"], "times": 1},
    {"kind": "error_5xx", "endpoints": ["status"], "times": 2},
    {"kind": "malformed_json", "endpoints": ["details"], "times": 1},
    {"kind": "hang", "endpoints": ["details"], "times": 1, "seconds": 5, "after_store": False},
]


@pytest.fixture
def backend() -> str:
    """Several processes share the database: PostgreSQL only."""
    return "postgres"


class Scale:
    """This process in scale mode, its workers, and (on demand) the web app for callbacks."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: dict[str, str],
        folder: Path,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.folder = folder
        self.workers: list[Worker] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start_worker(self, name: str) -> Worker:
        worker = Worker(worker_env(self.settings), name, self.folder)
        self.workers.append(worker)
        return worker.wait_ready()

    def serve(self) -> str:
        """The web application (jobs to Celery) on a socket bound before it starts; its URL."""
        sock = socket.create_server(("127.0.0.1", 0))
        self._server = uvicorn.Server(uvicorn.Config(create_app(self.factory), log_level="error"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def close(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        for worker in self.workers:
            worker.stop()
        forget_broker_connections()


@pytest.fixture
def scale(
    _postgres_url: str,
    redis_url: str,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    runner: Any,
) -> Iterator[Scale]:
    queue = f"g2p-resilience-hub-{uuid.uuid4().hex[:8]}"
    settings = {
        "G2P_DATABASE_URL": _postgres_url,
        "G2P_SECRET_KEY": SECRET,
        "G2P_BROKER_URL": redis_url,
        "G2P_JOB_RUNNER": "celery",
        "G2P_CELERY_QUEUE": queue,
        "G2P_DATA_DIR": str(tmp_path),
        "G2P_LOG_LEVEL": "INFO",
        # longer than any fault below holds an upload: an unknown outcome is resent only then
        "G2P_UNKNOWN_OUTCOME_QUIET_SECONDS": "15",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    forget_broker_connections()
    celery_app.app.conf.update(celery_app.celery_config(get_settings()))
    install_runner(session_factory, celery_app.CeleryRunner())
    made = Scale(session_factory, settings, tmp_path)
    yield made
    made.close()


def submit_and_wait(p: PheeProgram, kind: str, cycle: Cycle) -> Job:
    job = jobs.submit(p.session, p.approver, kind, {"cycle_id": str(cycle.id)})
    p.session.commit()
    final = (JobState.SUCCEEDED, JobState.FAILED)
    wait_until(lambda: reloaded_job(p.session, job.id).state in final, f"the {kind} job")
    return reloaded_job(p.session, job.id)


def payment_counts(p: PheeProgram, cycle: Cycle) -> dict[str, int]:
    """The cycle's payments by "state/status"."""
    p.session.expire_all()
    rows = p.session.execute(
        select(Payment.state, Payment.status, func.count())
        .where(Payment.cycle_id == cycle.id)
        .group_by(Payment.state, Payment.status)
    ).tuples()
    return {f"{state}/{status or ''}": int(count) for state, status, count in rows}


def test_every_hub_fault_at_once_everything_finishes_and_nothing_is_paid_twice(
    scale: Scale, phee_program: PheeProgram
) -> None:
    p, hub = phee_program, phee_program.hub
    app_url = scale.serve()
    p.configure(max_batch_size=2, callback_base_url=f"{app_url}/api/v1")
    cycle = p.prepared_cycle(16)  # 8 batches
    hub.set_outcomes({"delay_seconds": 60, "failing_payees": {}})
    hub.set_faults({"rules": UPLOAD_FAULTS + READ_FAULTS, "duplicate_callbacks": 2})
    scale.start_worker("one")
    scale.start_worker("two")

    sent = submit_and_wait(p, "send_cycle", cycle)
    assert sent.state is JobState.SUCCEEDED, sent.error
    outcomes = (sent.result or {})["states"]
    assert outcomes.get("outcome_unknown", 0) >= 1  # 5xx, drop, hang, malformed: not known

    def resolved() -> bool:  # beat's sweep, run until every unknown outcome is resolved
        sweeping.sweep(p.factory, celery_app.CeleryRunner())
        return {b.state for b in p.batches(cycle)} <= {BatchState.SUBMITTED}

    wait_until(resolved, "every batch submitted (unknown outcomes resolved)", every=1.0)
    hub.complete_all()  # PHEE finishes: three callbacks per batch reach the web app

    def completed() -> bool:
        sweeping.sweep(p.factory, celery_app.CeleryRunner())
        return {b.state for b in p.batches(cycle)} == {BatchState.COMPLETED}

    wait_until(completed, "every batch completed (callbacks, sync jobs, sweep)", every=1.0)
    assert payment_counts(p, cycle) == {f"{PaymentState.RECONCILED}/{PaymentStatus.PAID}": 16}
    # Every rule fired as often as it may: each kind of fault really happened.
    assert hub_faults(p) == {
        f"{rule['kind']}:{','.join(rule['endpoints'])}": rule["times"]
        for rule in UPLOAD_FAULTS + READ_FAULTS
    }
    callbacks = hub.settle_callbacks()
    assert len(callbacks) == 3 * 8
    assert all(c["status_code"] == 200 for c in callbacks), callbacks
    report = assert_nobody_paid_twice(hub)
    assert sorted(v["accepted"] for v in report["request_ids"].values()) == [1] * 16
    assert sorted(v["paid"] for v in report["request_ids"].values()) == [1] * 16


def hub_faults(p: PheeProgram) -> dict[str, int]:
    """How often each fault rule fired, by "kind:endpoints" (the emulator's admin view)."""
    import httpx

    answer = httpx.get(f"{p.hub.base_url}/_emulator/faults", timeout=10)
    answer.raise_for_status()
    body = answer.json()
    return {
        f"{rule['kind']}:{','.join(rule['endpoints'])}": int(fired)
        for rule, fired in zip(body["rules"], body["fired"], strict=True)
    }


def test_a_cycle_sync_is_fanned_out_to_the_other_workers(
    scale: Scale, phee_program: PheeProgram
) -> None:
    p, hub = phee_program, phee_program.hub
    p.configure(max_batch_size=1)
    cycle = p.prepared_cycle(45)  # 45 batches: 3 chunks of 20, 20 and 5
    hub.set_outcomes({"delay_seconds": 60})
    workers = [scale.start_worker("left"), scale.start_worker("right")]
    sent = submit_and_wait(p, "send_cycle", cycle)
    assert (sent.result or {})["states"] == {"submitted": 45}
    hub.complete_all()

    synced = submit_and_wait(p, "sync_cycle", cycle)
    assert synced.state is JobState.SUCCEEDED, synced.error
    result = synced.result or {}
    assert result["helpers"] == 3
    # The job went over every batch: it synced those still submitted and skipped those the
    # helpers had completed first (how many each did depends on the machine's pace).
    assert result["batches"] <= 45
    assert result["states"] == {BatchState.COMPLETED.value: 45}
    wait_until(
        lambda: {b.state for b in p.batches(cycle)} == {BatchState.COMPLETED},
        "every batch completed",
    )
    assert payment_counts(p, cycle) == {f"{PaymentState.RECONCILED}/{PaymentStatus.PAID}": 45}
    ran_job = [w for w in workers if f"job {synced.id} (sync_cycle) attempt 1 started" in log(w)]
    assert len(ran_job) == 1
    (helper,) = [w for w in workers if w is not ran_job[0]]
    helper.wait_for(lambda line: "g2p.sync_batches[" in line and "succeeded" in line)
    assert_nobody_paid_twice(hub)


def log(worker: Worker) -> str:
    return worker.log_path.read_text(errors="replace")
