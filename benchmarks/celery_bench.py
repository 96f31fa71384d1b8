"""What the Celery benchmarks share: a scratch PostgreSQL database and Redis queue, settings
for this process and its workers, ``g2p-phee worker`` processes, and waiting on jobs.

Not a benchmark itself: ``send_scaling.py`` and ``scale_1m.py`` import it (run as scripts,
their folder is on ``sys.path``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from prepare import PG_ADMIN, _pg_url

REDIS_URL = os.environ.get("G2P_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = "bench-celery-secret-key-0123456789abcdefgh"
READY = " ready."


def say_since(started: float) -> Callable[[str], None]:
    """A printer that stamps each line with the seconds since ``started``."""

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {message}", flush=True)

    return say


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A PostgreSQL database of its own (its SQLAlchemy URL), dropped at the end."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def celery_settings(url: str, queue: str, data_dir: Path) -> dict[str, str]:
    """The settings of this process and of its workers (scale mode on ``url``)."""
    return {
        "G2P_DATABASE_URL": url,
        "G2P_SECRET_KEY": SECRET,
        "G2P_BROKER_URL": REDIS_URL,
        "G2P_JOB_RUNNER": "celery",
        "G2P_CELERY_QUEUE": queue,
        "G2P_DATA_DIR": str(data_dir),
        "G2P_LOG_LEVEL": "INFO",
    }


def use_settings(settings: dict[str, str]) -> None:
    """Make ``settings`` this process's settings, and the Celery app's configuration."""
    from g2p_payment_phee.config import get_settings
    from g2p_payment_phee.jobs import celery_app

    os.environ.update(settings)
    get_settings.cache_clear()
    celery_app.app.conf.update(celery_app.celery_config(get_settings()))


def purge_queue(queue: str) -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).delete(queue)


class Workers:
    """``count`` ``g2p-phee worker --pool solo`` processes (one task at a time each), started
    and waited for (their " ready." log line); a log file each under ``logs``."""

    def __init__(self, settings: dict[str, str], logs: Path, count: int, tag: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("G2P_")}
        env.update(settings)
        command = [str(Path(sys.executable).parent / "g2p-phee"), "worker", "--pool", "solo"]
        self.logs = [logs / f"{tag}-worker-{i}.log" for i in range(count)]
        self.processes: list[subprocess.Popen[bytes]] = []
        for index, path in enumerate(self.logs):
            with path.open("wb") as log:
                hostname = f"{tag}{index}-{time.time_ns()}@%h"
                self.processes.append(
                    subprocess.Popen(
                        [*command, "--hostname", hostname],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        waiting = list(zip(self.logs, self.processes, strict=True))
        while waiting:
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready within {timeout} s: {waiting}")
            for path, process in list(waiting):
                if process.poll() is not None:
                    raise RuntimeError(f"a worker exited at start; see {path}")
                if READY in path.read_text(errors="replace"):
                    waiting.remove((path, process))
            pause.wait(0.1)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.05) -> float:
    """Poll ``check`` until it holds; the monotonic time it first held (or RuntimeError)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        if check():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {check}")
        pause.wait(every)


def job_state(factory: Any, job_id: uuid.UUID) -> Any:
    """The job row, read afresh."""
    from g2p_payment_phee.db import unit_of_work
    from g2p_payment_phee.jobs.models import Job

    with unit_of_work(factory) as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def job_final(factory: Any, job_id: uuid.UUID) -> Callable[[], bool]:
    from g2p_payment_phee.jobs.models import JobState

    def final() -> bool:
        return job_state(factory, job_id).state in (JobState.SUCCEEDED, JobState.FAILED)

    return final


def scalar(engine: Engine, query: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(query)).scalar()


def grouped(engine: Engine, query: str) -> dict[str, int]:
    with engine.connect() as conn:
        return {str(k): int(v) for k, v in conn.execute(text(query)).tuples()}


@dataclass(frozen=True)
class CeleryCycle:
    """The benchmark's database in scale mode: jobs go to Celery, the cycle's manager is set."""

    engine: Engine
    factory: Any
    admin: Any
    cycle_id: uuid.UUID


def celery_cycle(url: str, emulator_url: str, rows: int, **hub_overrides: Any) -> CeleryCycle:
    """Engine and sessions over ``url`` dispatching jobs to Celery, and the PHEE manager of the
    one cycle's program pointed at the emulator (batches of ``rows``)."""
    from sqlalchemy import select

    from g2p_payment_phee.db import make_engine, make_session_factory, unit_of_work
    from g2p_payment_phee.jobs.celery_app import CeleryRunner
    from g2p_payment_phee.jobs.runner import install_runner
    from g2p_payment_phee.payments.config_service import configure_manager
    from g2p_payment_phee.programs.models import Cycle, ManagerKind
    from g2p_payment_phee.users.models import User
    from send_sync import hub_settings

    engine = make_engine(url)
    factory = make_session_factory(engine)
    install_runner(factory, CeleryRunner())
    with unit_of_work(factory) as session:
        admin = session.scalars(select(User)).one()
        cycle = session.scalars(select(Cycle)).one()
        hub, secrets = hub_settings(emulator_url, rows)
        hub.update(hub_overrides)
        configure_manager(session, admin, cycle.program, ManagerKind.PHEE, hub, secrets)
        return CeleryCycle(engine, factory, admin, cycle.id)
