"""Who runs jobs, and how a committed ``submit`` reaches them.

A ``JobRunner`` receives job ids. ``install_runner(factory, runner)`` puts the runner in the
session factory's ``info`` and listens for commits: ``submit`` queues the new job's id on the
session, and only when the session's outermost transaction commits are the ids handed to the
runner (a rollback forgets them). So no runner ever sees a job that is not in the database.

``InProcessRunner`` (embedded mode) runs jobs on a small thread pool of this process;
``jobs.celery_app.CeleryRunner`` (scale mode) sends them to Celery workers.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.errors import ConfigurationError
from g2p_payment_phee.i18n import _

log = logging.getLogger(__name__)
RUNNER_KEY = "g2p_job_runner"
PENDING_KEY = "g2p_jobs_to_dispatch"


class JobRunner(Protocol):
    """Something that runs committed jobs by id (each run claims its job, so extra dispatches
    of one id are harmless)."""

    def dispatch(self, job_id: uuid.UUID) -> None:
        """Arrange for the job to run; must not block on the work itself."""
        ...

    def start(self) -> None:
        """Start the runner's own threads, if it has any (the web app's lifespan calls this)."""
        ...

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs; with ``wait``, let the ones running here finish."""
        ...


class _RunnerSlot:
    """Shared by the factory and every session it made (``info`` is copied shallowly), so that
    a runner installed later also serves sessions that already exist."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner


def install_runner(factory: sessionmaker[Session], runner: JobRunner) -> JobRunner:
    """Make sessions of ``factory`` dispatch their submitted jobs to ``runner`` on commit."""
    info = dict(factory.kw.get("info") or {})
    slot = info.get(RUNNER_KEY)
    if isinstance(slot, _RunnerSlot):
        slot.runner = runner
        return runner
    # The listeners go with the slot, once per factory. (``event.contains`` is not a safe test:
    # SQLAlchemy keys its registry by ``id()``, and a new factory's session class can get the
    # id of a collected one whose entry is still there, so the listeners were never added.)
    info[RUNNER_KEY] = _RunnerSlot(runner)
    factory.configure(info=info)
    event.listen(factory, "after_commit", _dispatch_committed)
    event.listen(factory, "after_rollback", _forget_rolled_back)
    return runner


def installed_runner(factory: sessionmaker[Session]) -> JobRunner | None:
    """The runner installed on ``factory``, if any."""
    slot = (factory.kw.get("info") or {}).get(RUNNER_KEY)
    return slot.runner if isinstance(slot, _RunnerSlot) else None


def queue_for_dispatch(session: Session, job_id: uuid.UUID) -> None:
    """Dispatch ``job_id`` when this session commits (``submit`` calls this)."""
    if not isinstance(session.info.get(RUNNER_KEY), _RunnerSlot):
        raise ConfigurationError(
            _("no job runner is installed for this database session (install_runner)")
        )
    session.info.setdefault(PENDING_KEY, []).append(job_id)


def _dispatch_committed(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the work is not committed yet
        return
    pending: list[uuid.UUID] = session.info.pop(PENDING_KEY, [])
    slot = session.info.get(RUNNER_KEY)
    for job_id in pending:
        try:
            assert isinstance(slot, _RunnerSlot)
            slot.runner.dispatch(job_id)
        except Exception:
            # The job is committed and stays queued; the sweep hands it out again.
            log.exception("job %s is queued but could not be dispatched; the sweep retries", job_id)


def _forget_rolled_back(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.info.pop(PENDING_KEY, None)


class InProcessRunner:
    """Runs jobs on a few threads of this process (embedded mode, tests).

    ``wait(job_id, timeout)`` lets a caller (a test, the CLI) block until the runs dispatched
    for a job have ended. With ``sweep_every`` set, ``start()`` starts a background
    thread running the sweep (``jobs.sweep``: dead jobs, lapsed claims, unknown outcomes,
    syncing sent cycles, overdue reports), as Celery beat does in the scale mode; the web app
    starts it with its lifespan, so an app that is only built, as in tests, leaves no thread
    behind. Nobody helps its jobs (``background.NoHelpers``).
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        workers: int = 2,
        sweep_every: timedelta | None = None,
    ) -> None:
        self.factory = factory
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="g2p-job")
        self._lock = threading.Lock()
        self._futures: dict[uuid.UUID, list[Future[Any]]] = {}
        self._stopping = threading.Event()
        self._sweep_every = sweep_every
        self._sweeper: threading.Thread | None = None

    def start(self) -> None:
        """Start the periodic sweep thread (once; nothing without ``sweep_every``)."""
        with self._lock:
            if self._sweep_every is None or self._sweeper is not None or self._stopping.is_set():
                return
            self._sweeper = threading.Thread(
                target=self._sweep_loop,
                args=(self._sweep_every,),
                name="g2p-job-sweep",
                daemon=True,
            )
            self._sweeper.start()

    def dispatch(self, job_id: uuid.UUID) -> None:
        """Run the job on the pool (refused after shutdown: the sweep will run it later)."""
        from g2p_payment_phee.jobs.engine import run_job

        with self._lock:
            if self._stopping.is_set():
                raise RuntimeError("the in-process job runner is shut down")
            future = self._pool.submit(run_job, self.factory, job_id)
            self._futures.setdefault(job_id, []).append(future)

    def wait(self, job_id: uuid.UUID, timeout: float = 30.0) -> bool:
        """Block until every run dispatched for ``job_id`` has ended; False on timeout."""
        with self._lock:
            futures = list(self._futures.get(job_id, []))
        _, not_done = wait_futures(futures, timeout=timeout)
        return not not_done

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every dispatched run has ended; False on timeout."""
        with self._lock:
            futures = [f for runs in self._futures.values() for f in runs]
        _, not_done = wait_futures(futures, timeout=timeout)
        return not not_done

    def dispatched(self, job_id: uuid.UUID) -> int:
        """How many times ``job_id`` was handed to this runner."""
        with self._lock:
            return len(self._futures.get(job_id, []))

    def sweep_now(self) -> dict[str, int]:
        """One pass of the whole sweep now (see ``jobs.sweep``); what it did, as counts."""
        from g2p_payment_phee.jobs.sweep import sweep

        return sweep(self.factory, self)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs; with ``wait``, let the running ones finish."""
        with self._lock:
            self._stopping.set()
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        if self._sweeper is not None and wait:
            self._sweeper.join(timeout=5)

    def _sweep_loop(self, every: timedelta) -> None:
        while not self._stopping.wait(every.total_seconds()):
            try:
                self.sweep_now()
            except Exception:
                log.exception("job sweep failed; trying again in %s", every)


def start_job_runner(factory: sessionmaker[Session]) -> JobRunner:
    """The runner the settings choose, installed on ``factory`` (the web app calls this):
    Celery workers (``G2P_JOB_RUNNER=celery``, the default in scale mode) or threads here."""
    from g2p_payment_phee.config import JobRunnerKind, get_settings

    settings = get_settings()
    if settings.job_runner is JobRunnerKind.CELERY:
        from g2p_payment_phee.jobs.celery_app import CeleryRunner

        return install_runner(factory, CeleryRunner())
    every = timedelta(seconds=settings.sweep_seconds)
    return install_runner(factory, InProcessRunner(factory, sweep_every=every))


def start_job_runner_threads(runner: JobRunner) -> None:
    """Start the runner's background threads (the in-process sweep; Celery has none here)."""
    runner.start()


def stop_job_runner(runner: JobRunner, *, wait: bool = True) -> None:
    """Shut the runner down (the in-process one lets its running jobs finish)."""
    runner.shutdown(wait=wait)
