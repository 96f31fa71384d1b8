"""Jobs run by a real in-process runner over the test database; the PHEE fixtures for
jobs that talk to the emulator; a runner that only records what it was handed."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.jobs.runner import InProcessRunner, install_runner
from tests.conftest import services_required
from tests.integration.phee.conftest import _emulator, hub, phee_program  # noqa: F401

REDIS_ENV = "G2P_TEST_REDIS_URL"


class RecordingRunner:
    """Runs nothing; remembers every dispatched id (to see *when* dispatch happens)."""

    def __init__(self) -> None:
        self.dispatched: list[uuid.UUID] = []

    def dispatch(self, job_id: uuid.UUID) -> None:
        self.dispatched.append(job_id)

    def start(self) -> None:
        """No threads."""

    def shutdown(self, wait: bool = True) -> None:
        """Nothing to stop."""


@pytest.fixture(autouse=True)
def runner(session_factory: sessionmaker[Session]) -> Iterator[InProcessRunner]:
    """The in-process runner, installed before any session of the test is made."""
    runner = InProcessRunner(session_factory, workers=2)
    install_runner(session_factory, runner)
    yield runner
    runner.shutdown(wait=True)


@pytest.fixture
def recorder(session_factory: sessionmaker[Session], runner: InProcessRunner) -> RecordingRunner:
    """Replaces the in-process runner: dispatched jobs are recorded, not run."""
    recorder = RecordingRunner()
    install_runner(session_factory, recorder)
    return recorder


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The Redis of the tests that run real Celery workers (required under CI)."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        if services_required():
            pytest.fail(f"{REDIS_ENV} must be set when CI/G2P_REQUIRE_SERVICES is set")
        pytest.skip(f"{REDIS_ENV} not set")
    return url
