"""Real Celery worker processes for the scale-mode tests (``g2p-phee worker``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee.jobs import celery_app
from g2p_payment_phee.jobs.models import Job

READY = " ready."
WAIT = 120.0  # a generous deadline: CI machines are slow; a pass returns as soon as it holds


class Worker:
    """One ``g2p-phee worker --pool solo`` process; its log is kept to wait on lines."""

    def __init__(self, env: dict[str, str], name: str, log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._lines: list[str] = []
        self._changed = threading.Condition()
        command = [str(Path(sys.executable).parent / "g2p-phee"), "worker", "--pool", "solo"]
        self.process = subprocess.Popen(
            [*command, "--hostname", f"{name}@%h"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.log_path.open("w") as log:
            for line in self.process.stderr:
                log.write(line)
                log.flush()
                with self._changed:
                    self._lines.append(line)
                    self._changed.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        """The first log line matching ``predicate`` (waits for it)."""
        with self._changed:
            found: list[str] = []

            def seen() -> bool:
                found.extend(line for line in self._lines if predicate(line))
                return bool(found) or self.process.poll() is not None

            if not self._changed.wait_for(seen, timeout) or not found:
                raise AssertionError(f"{self.name}: no such log line; log in {self.log_path}")
            return found[0]

    def wait_ready(self, timeout: float = 60.0) -> Worker:
        self.wait_for(lambda line: READY in line, timeout)
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgement, like a machine losing power."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(timeout=5)


def worker_env(settings: dict[str, str]) -> dict[str, str]:
    """The environment of a worker: this one without G2P_*, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("G2P_")}
    return {**env, **settings}


def forget_broker_connections() -> None:
    """This process's Celery connections and producers, dropped: the next message goes to
    the broker configured now (``app.close()`` alone keeps the producer pool)."""
    celery_app.app.close()
    celery_app.app.amqp._producer_pool = None  # type: ignore[attr-defined]


def reloaded_job(session: Session, job_id: uuid.UUID) -> Job:
    """The job as the database has it now (workers change it from other processes)."""
    session.expire_all()
    job = session.get(Job, job_id)
    assert job is not None
    return job


def wait_until(
    check: Callable[[], bool], what: str = "", timeout: float = WAIT, every: float = 0.1
) -> None:
    """Until ``check()`` holds (re-checked every ``every`` seconds), or fail naming ``what``."""
    pause = threading.Event()
    for _ in range(max(1, int(timeout / every))):
        if check():
            return
        pause.wait(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what or check}")
