"""Scale mode when the broker or the database goes away (issue 7, SPEC 9), with real parts:
``g2p-phee worker`` processes, PostgreSQL, the emulator, and either a private ``redis-server``
this test stops and starts, or a TCP proxy in front of PostgreSQL that it cuts and restores.

* Work queued when Redis restarts: with persistence the message survives and runs; without,
  the job is still queued in the database and the sweep dispatches it again.
* A worker rides out a broker outage and takes the redispatched job afterwards.
* The database cut while a job has the answer of an upload in hand: the task retries with
  backoff, the job resumes (same job, next attempt), the batch whose answer was lost is found
  at PHEE by lookup, and no request_id is accepted twice.
* The database unreachable when a job's message arrives: retried until it is back.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.jobs import celery_app, states
from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.jobs import sweep as sweeping
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.jobs.runner import install_runner
from g2p_payment_phee.jobs.sweep import sweep_jobs
from g2p_payment_phee.payments.states import BatchState
from tests.conftest import services_required
from tests.integration.jobs.celery_workers import (
    Worker,
    forget_broker_connections,
    reloaded_job,
    wait_until,
    worker_env,
)
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice

pytestmark = pytest.mark.postgres
SECRET = "resilience-test-secret-key-0123456789abc"


@pytest.fixture
def backend() -> str:
    """Several processes share the database: PostgreSQL only."""
    return "postgres"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the parts this test breaks ---------------------------------------------------------------


class RedisServer:
    """A private ``redis-server`` on a fixed loopback port, stopped and started at will;
    ``persistent``: append-only file fsynced on every write, so queued messages survive."""

    def __init__(self, folder: Path, *, persistent: bool) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else []
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.folder), *aof]
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_until(answers, "redis-server to answer", timeout=20)
        client.close()

    def stop(self) -> None:
        """SIGTERM: Redis exits cleanly (what a restart by its supervisor does)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)
        self.process = None

    def queued(self, queue: str) -> int:
        client = redis.Redis.from_url(self.url)
        try:
            return int(client.llen(queue))  # type: ignore[arg-type]
        finally:
            client.close()


class TcpProxy:
    """Forwards a free loopback port to ``target``. ``cut()`` closes every forwarded connection
    and, until ``restore()``, closes new ones as soon as they are accepted: to a client, the
    server is gone (connection reset or closed), the way a database restart looks."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._cut = False
        self.refused = 0
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                if self._cut:
                    self.refused += 1
                    _close(client)
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            doomed, self._open = self._open, []
        for sock in doomed:
            _close(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self._closing = True
        self.cut()
        _close(self.listener)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


# --- scale mode over those parts --------------------------------------------------------------


def settings_for(db_url: str, broker_url: str, data_dir: Path, queue: str) -> dict[str, str]:
    return {
        "G2P_DATABASE_URL": db_url,
        "G2P_SECRET_KEY": SECRET,
        "G2P_BROKER_URL": broker_url,
        "G2P_JOB_RUNNER": "celery",
        "G2P_CELERY_QUEUE": queue,
        "G2P_DATA_DIR": str(data_dir),
        "G2P_LOG_LEVEL": "INFO",
    }


class Scale:
    """This process in scale mode (jobs dispatched to Celery through ``broker_url``) and
    workers started with the same settings, except their database URL."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        db_url: str,
        broker_url: str,
        folder: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        self.factory = factory
        self.folder = folder
        self.queue = f"g2p-resilience-{uuid.uuid4().hex[:8]}"
        self.settings = settings_for(db_url, broker_url, folder, self.queue)
        self.workers: list[Worker] = []
        for name, value in self.settings.items():
            if name != "G2P_DATA_DIR":
                monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        forget_broker_connections()
        celery_app.app.conf.update(celery_app.celery_config(get_settings()))
        install_runner(factory, celery_app.CeleryRunner())

    def start_worker(self, name: str, database_url: str | None = None) -> Worker:
        settings = dict(self.settings)
        if database_url is not None:
            settings["G2P_DATABASE_URL"] = database_url
        worker = Worker(worker_env(settings), name, self.folder)
        self.workers.append(worker)
        return worker.wait_ready()

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        forget_broker_connections()


@pytest.fixture
def scale_over(
    _postgres_url: str,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Callable[[str], Scale]]:
    """Scale mode over a broker URL of the test's choosing (workers stopped at the end).
    Asked for before the program fixtures, so that its secrets use the workers' key."""
    monkeypatch.setenv("G2P_SECRET_KEY", SECRET)
    get_settings.cache_clear()
    made: list[Scale] = []

    def make(broker_url: str) -> Scale:
        made.append(Scale(session_factory, _postgres_url, broker_url, tmp_path, monkeypatch))
        return made[-1]

    yield make
    for scale in made:
        scale.close()


@pytest.fixture
def private_redis(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if services_required():
            pytest.fail("redis-server must be installed when CI/G2P_REQUIRE_SERVICES is set")
        pytest.skip("redis-server is not installed")
    persistent = bool(getattr(request, "param", False))
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder, persistent=persistent)
    server.start()
    yield server
    server.stop()


def job_final(p: PheeProgram, job_id: uuid.UUID) -> Callable[[], bool]:
    return lambda: reloaded_job(p.session, job_id).state in (JobState.SUCCEEDED, JobState.FAILED)


def submit_send(p: PheeProgram, cycle_id: uuid.UUID) -> Job:
    job = jobs.submit(p.session, p.approver, "send_cycle", {"cycle_id": str(cycle_id)})
    p.session.commit()
    return job


def assert_each_accepted_once(p: PheeProgram, count: int) -> None:
    report = assert_nobody_paid_twice(p.hub)
    assert sorted(v["accepted"] for v in report["request_ids"].values()) == [1] * count


# --- the broker -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "private_redis", [True, False], ids=["aof", "no-persistence"], indirect=True
)
def test_work_queued_when_the_broker_restarts_runs_once_it_is_back(
    scale_over: Callable[[str], Scale],
    private_redis: RedisServer,
    phee_program: PheeProgram,
    runner: Any,
) -> None:
    p = phee_program
    scale = scale_over(private_redis.url)
    p.configure(max_batch_size=2)
    cycle = p.prepared_cycle(6)
    job = submit_send(p, cycle.id)  # no worker yet: the message waits in Redis
    assert private_redis.queued(scale.queue) == 1

    private_redis.stop()
    private_redis.start()
    if private_redis.persistent:
        assert private_redis.queued(scale.queue) == 1  # the message survived the restart
    else:
        assert private_redis.queued(scale.queue) == 0  # lost with the broker's memory...
        assert reloaded_job(p.session, job.id).state is JobState.QUEUED  # ...but not the job
    scale.start_worker("after-restart")
    if not private_redis.persistent:
        # What beat's sweep does once the job has waited LOST_AFTER: dispatch it again.
        assert sweep_jobs(p.factory, celery_app.CeleryRunner(), lost_after=timedelta(0)) == [job.id]
    wait_until(job_final(p, job.id), "the send job")
    done = reloaded_job(p.session, job.id)
    assert (done.state, done.attempts) == (JobState.SUCCEEDED, 1), done.error
    assert {b.state for b in p.batches(cycle)} == {BatchState.SUBMITTED}
    assert [b.send_attempts for b in p.batches(cycle)] == [1, 1, 1]
    assert_each_accepted_once(p, 6)


def test_a_worker_rides_out_a_broker_outage_and_takes_the_work_after_it(
    scale_over: Callable[[str], Scale],
    private_redis: RedisServer,
    phee_program: PheeProgram,
    runner: Any,
) -> None:
    p = phee_program
    scale = scale_over(private_redis.url)
    worker = scale.start_worker("steady")
    p.configure(max_batch_size=2)
    cycle = p.prepared_cycle(4)

    private_redis.stop()
    worker.wait_for(lambda line: "broker" in line.lower() and "lost" in line.lower())
    job = submit_send(p, cycle.id)  # committed; its dispatch fails and is logged
    assert reloaded_job(p.session, job.id).state is JobState.QUEUED
    assert worker.process.poll() is None  # the worker waits for its broker, it does not exit

    private_redis.start()
    dispatched = sweep_jobs(p.factory, celery_app.CeleryRunner(), lost_after=timedelta(0))
    assert dispatched == [job.id]
    wait_until(job_final(p, job.id), "the send job, on the worker that reconnected")
    assert reloaded_job(p.session, job.id).state is JobState.SUCCEEDED
    assert {b.state for b in p.batches(cycle)} == {BatchState.SUBMITTED}
    assert_each_accepted_once(p, 4)


# --- the database -----------------------------------------------------------------------------


@pytest.fixture
def db_proxy(_postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy in front of the test database, and the database URL through it."""
    url = make_url(_postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.close()


def worker_lines(worker: Worker) -> list[str]:
    return worker.log_path.read_text(errors="replace").splitlines()


def retries_logged(worker: Worker, task: str, count: int) -> None:
    """Wait until ``worker`` has logged ``count`` database retries of ``task``."""

    def retry(n: int) -> Callable[[str], bool]:
        wanted = (f"{task}: the database is unreachable", f"retry {n} in")
        return lambda line: all(part in line for part in wanted)

    for n in range(1, count + 1):
        worker.wait_for(retry(n))


def test_the_database_lost_mid_send_is_retried_and_nothing_is_uploaded_twice(
    scale_over: Callable[[str], Scale],
    redis_url: str,
    db_proxy: tuple[TcpProxy, str],
    phee_program: PheeProgram,
    runner: Any,
) -> None:
    p, hub = phee_program, phee_program.hub
    proxy, proxied_url = db_proxy
    scale = scale_over(redis_url)
    p.configure(max_batch_size=2)
    cycle = p.prepared_cycle(6)
    # The first upload is stored at the hub and its answer held back, so that the database
    # can be cut while the worker is between the upload and recording its answer.
    hub.set_faults({"rules": [{"kind": "hang", "endpoints": ["upload"], "seconds": 120}]})
    worker = scale.start_worker("cut-off", database_url=proxied_url)
    job = submit_send(p, cycle.id)
    wait_until(lambda: len(hub.inspect()["request_ids"]) == 2, "the first upload at the hub")

    proxy.cut()
    hub.clear_faults()
    hub.release_hangs()  # the answer arrives; the database is gone
    worker.wait_for(lambda line: "lost the database" in line and str(job.id) in line)
    retries_logged(worker, "g2p.run_job", 2)  # still down: retried again, with backoff
    assert proxy.refused > 0
    assert reloaded_job(p.session, job.id).state is JobState.RUNNING  # not failed
    said = [line for line in worker_lines(worker) if "database" in line]
    assert said
    assert not [line for line in said if "[SQL" in line or "parameters" in line]
    # Left in sending: every batch the run claimed, uploaded (the run goes on uploading what
    # it had claimed) or not, and whose answer could not be recorded.
    at_hub = set(hub.inspect()["request_ids"])
    sending = {b.id for b in p.batches(cycle) if b.state is BatchState.SENDING}
    uploaded = {b.id for b in p.batches(cycle) if {str(x.id) for x in p.payments(b)} <= at_hub}
    assert uploaded
    assert uploaded <= sending

    proxy.restore()
    wait_until(job_final(p, job.id), "the send job, resumed")
    done = reloaded_job(p.session, job.id)
    assert (done.state, done.attempts) == (JobState.SUCCEEDED, 2), done.error
    after = p.batches(cycle)
    assert {b.state for b in after if b.id in sending} == {BatchState.SENDING}  # never guessed
    assert {b.state for b in after if b.id not in sending} <= {BatchState.SUBMITTED}

    # Later the sweep finds the batches left in sending and looks each up at PHEE: those it
    # has are marked submitted without a second upload; any other is sent, once.
    hour = timedelta(hours=1)  # an hour passes: the claims' leases lapse and the quiet period
    for batch in p.batches(cycle):  # after any of their uploads is over
        if batch.id in sending:
            for column in ("claimed_at", "lease_until", "last_attempt_at"):
                if getattr(batch, column) is not None:
                    setattr(batch, column, getattr(batch, column) - hour)
    p.session.commit()
    counts = sweeping.sweep(p.factory, celery_app.CeleryRunner())
    assert counts["released_claims"] == len(sending)
    wait_until(
        lambda: {b.state for b in p.batches(cycle)} == {BatchState.SUBMITTED},
        "the batches left in sending resolved by lookup",
    )
    attempts = {b.id: b.send_attempts for b in p.batches(cycle)}
    assert {attempts[i] for i in sending} == {2}  # the claim, then the lookup (and send)
    assert {n for i, n in attempts.items() if i not in sending} <= {1}
    assert_each_accepted_once(p, 6)


def test_a_job_arriving_while_the_database_is_unreachable_runs_once_it_is_back(
    scale_over: Callable[[str], Scale],
    redis_url: str,
    db_proxy: tuple[TcpProxy, str],
    phee_program: PheeProgram,
    runner: Any,
) -> None:
    p = phee_program
    proxy, proxied_url = db_proxy
    scale = scale_over(redis_url)
    p.configure(max_batch_size=2)
    cycle = p.prepared_cycle(4)
    worker = scale.start_worker("waiting", database_url=proxied_url)
    proxy.cut()
    job = submit_send(p, cycle.id)  # this process reaches the database directly
    retries_logged(worker, "g2p.run_job", 3)
    assert reloaded_job(p.session, job.id).state is JobState.QUEUED  # nothing ran, nothing failed

    proxy.restore()
    wait_until(job_final(p, job.id), "the send job")
    done = reloaded_job(p.session, job.id)
    assert (done.state, done.attempts) == (JobState.SUCCEEDED, 1), done.error
    assert {b.state for b in p.batches(cycle)} == {BatchState.SUBMITTED}
    assert_each_accepted_once(p, 4)


def test_only_the_interrupted_attempt_is_handed_back(
    phee_program: PheeProgram, session_factory: sessionmaker[Session], recorder: Any
) -> None:
    """A late retry of an older attempt must not take the job from the run that has it now."""
    p = phee_program
    cycle = p.prepared_cycle(1)
    job = submit_send(p, cycle.id)
    with unit_of_work(session_factory) as session:
        assert states.claim(session, job.id) == 1
    with unit_of_work(session_factory) as session:
        assert not states.requeue_interrupted(session, job.id, 2)  # not its attempt
    with unit_of_work(session_factory) as session:
        assert states.requeue_interrupted(session, job.id, 1)
    assert reloaded_job(p.session, job.id).state is JobState.QUEUED
    with unit_of_work(session_factory) as session:
        assert states.claim(session, job.id) == 2
        assert not states.requeue_interrupted(session, job.id, 1)  # a stale retry
    assert (reloaded_job(p.session, job.id).state, reloaded_job(p.session, job.id).attempts) == (
        JobState.RUNNING,
        2,
    )
