"""install_runner: every session factory it is given dispatches its jobs on commit.

The listeners used to be added only when SQLAlchemy's registry did not already list them, and
that registry is keyed by ``id()``: a new factory whose session class reused the id of a
collected one looked registered, and its jobs were committed but never dispatched."""

from __future__ import annotations

import gc
import uuid

from sqlalchemy import create_engine

from g2p_payment_phee.db import make_session_factory
from g2p_payment_phee.jobs.runner import install_runner, queue_for_dispatch


class _Recorder:
    def __init__(self) -> None:
        self.dispatched: list[uuid.UUID] = []

    def dispatch(self, job_id: uuid.UUID) -> None:
        self.dispatched.append(job_id)

    def start(self) -> None:
        """No threads."""

    def shutdown(self, wait: bool = True) -> None:
        """Nothing to stop."""


def test_each_new_factory_dispatches_on_commit_even_when_old_ones_were_collected() -> None:
    engine = create_engine("sqlite://")
    try:
        for _ in range(50):
            factory = make_session_factory(engine)
            recorder = _Recorder()
            install_runner(factory, recorder)
            job_id = uuid.uuid4()
            with factory() as session:
                queue_for_dispatch(session, job_id)
                session.commit()
            assert recorder.dispatched == [job_id]
            del factory, session
            gc.collect()
    finally:
        engine.dispose()


def test_installing_again_replaces_the_runner_without_dispatching_twice() -> None:
    engine = create_engine("sqlite://")
    factory = make_session_factory(engine)
    first, second = _Recorder(), _Recorder()
    install_runner(factory, first)
    install_runner(factory, second)
    job_id = uuid.uuid4()
    with factory() as session:
        queue_for_dispatch(session, job_id)
        session.commit()
    assert (first.dispatched, second.dispatched) == ([], [job_id])
    engine.dispose()
