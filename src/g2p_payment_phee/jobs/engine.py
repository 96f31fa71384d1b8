"""Running a job, the same in-process and in Celery workers.

``run_job`` takes the job's id: reload the job, *claim* it (queued → running, a conditional
update: a job already running elsewhere or final is not run again), reload its user (the job
runs with the rights of the person who started it), run its kind's body (``jobs.kinds``) with
a ``background.Work``, then record the result (JSON counts) or the error. While it
runs, a monitor thread writes the heartbeat and the latest progress in short transactions of
their own; a run whose heartbeat stops (its process died) is requeued by the sweep.

A run that loses its database (connection refused or dropped, ``is_database_lost``) is not
recorded as failed when its runner can retry (``interruptible``, the Celery workers): it
raises ``RunInterrupted`` with its attempt, and the retry hands that attempt back (running →
queued, fenced by the attempt) and claims the job again. Every body is safe to run again: a
batch claimed before the loss stays ``sending`` until it is looked up at PHEE.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.background import Helpers, NoHelpers, Work
from g2p_payment_phee.db import database_problem, is_database_lost, unit_of_work
from g2p_payment_phee.errors import G2PError, NotFound
from g2p_payment_phee.i18n import _, lazy_gettext
from g2p_payment_phee.jobs import states
from g2p_payment_phee.jobs.kinds import KINDS
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.jobs.service import SYSTEM
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.service import get_user

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10.0
PROGRESS_SECONDS = 1.0
UNEXPECTED = lazy_gettext("the job failed unexpectedly; the error is in the worker's log")


class RunInterrupted(Exception):
    """A claimed run lost its database; retry with ``attempt`` to hand it back and run again."""

    def __init__(self, job_id: uuid.UUID, attempt: int, reason: str) -> None:
        super().__init__(f"job {job_id} attempt {attempt} interrupted: {reason}")
        self.job_id = job_id
        self.attempt = attempt
        self.reason = reason


@dataclass
class JobContext:
    """A claimed run: its job, attempt (the fence of every write), user, and the latest
    progress its body reported, written by the monitor."""

    factory: sessionmaker[Session]
    job_id: uuid.UUID
    attempt: int
    kind: str
    params: dict[str, Any]
    actor: User | None
    _progress: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Event = field(default_factory=threading.Event)

    def progress(
        self,
        done: int,
        total: int | None = None,
        message: str | None = None,
        *,
        flush: bool = False,
    ) -> None:
        """Record progress; written by the monitor within a second (now, with ``flush``)."""
        with self._lock:
            self._progress.update(done=done)
            if total is not None:
                self._progress["total"] = total
            if message is not None:
                self._progress["message"] = message
        if flush:
            self.write_progress()
        else:
            self._changed.set()

    def write_progress(self) -> bool:
        """Write the heartbeat and the latest progress in a transaction of its own."""
        with self._lock:
            latest = dict(self._progress)
            self._changed.clear()
        with unit_of_work(self.factory) as session:
            return states.report(session, self.job_id, self.attempt, **latest)


class _Monitor:
    """Writes the heartbeat every HEARTBEAT_SECONDS and fresh progress every PROGRESS_SECONDS."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"g2p-job-{ctx.job_id}", daemon=True)

    def __enter__(self) -> _Monitor:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.ctx._changed.set()
        self.thread.join(timeout=HEARTBEAT_SECONDS * 3)

    def _loop(self) -> None:
        last = time.monotonic()
        while not self.stop.is_set():
            changed = self.ctx._changed.wait(PROGRESS_SECONDS)
            if self.stop.is_set():
                return
            if changed or time.monotonic() - last >= HEARTBEAT_SECONDS:
                self._write()
                last = time.monotonic()
                if changed:  # at most one progress write per PROGRESS_SECONDS
                    self.stop.wait(PROGRESS_SECONDS)

    def _write(self) -> None:
        try:
            self.ctx.write_progress()
        except OperationalError as error:  # e.g. SQLite's write lock held by the job itself
            log.debug("job %s: progress not written now: %s", self.ctx.job_id, error)
        except Exception:
            log.exception("job %s: progress not written", self.ctx.job_id)


def run_job(
    factory: sessionmaker[Session],
    job_id: uuid.UUID,
    kind: str | None = None,
    *,
    resume: int | None = None,
    interruptible: bool = False,
    helpers: Helpers | None = None,
) -> JobState | None:
    """Run the job if it is queued (claiming it first); its final state, or None if this call
    did not run it (gone, final, running elsewhere, or not of ``kind``).

    ``interruptible``: losing the database raises ``RunInterrupted`` instead of failing the
    job; ``resume`` is the attempt such a run had, handed back here before claiming again."""
    with unit_of_work(factory) as session:
        if resume is not None and states.requeue_interrupted(session, job_id, resume):
            log.info("job %s attempt %d was interrupted: running it again", job_id, resume)
        job = session.get(Job, job_id)
        if job is None:
            log.warning("job %s does not exist (deleted, or another database): ignored", job_id)
            return None
        if kind is not None and job.kind != kind:
            log.warning("job %s is a %s job, not %s: ignored", job_id, job.kind, kind)
            return None
        if job.state is not JobState.QUEUED:
            log.info("job %s is %s: not run again", job_id, job.state)
            return None
        spec = KINDS.get(job.kind)
        body = spec.body if spec is not None else None
        actor, problem = _job_actor(session, job)
        if body is None or problem is not None:
            states.fail_unrunnable(
                session, job, problem or _("unknown job kind {kind!r}").format(kind=job.kind)
            )
            return JobState.FAILED
        attempt = states.claim(session, job_id)
        if attempt is None:
            log.info("job %s was claimed by another worker", job_id)
            return None
        ctx = JobContext(factory, job_id, attempt, job.kind, dict(job.params), actor)
    work = Work(factory, actor, ctx.kind, attempt, ctx.params, ctx.progress, helpers or NoHelpers())
    try:
        return _run_claimed(ctx, job, partial(body, work), interruptible=interruptible)
    except Exception as error:
        if not (interruptible and is_database_lost(error)):
            raise
        reason = database_problem(error)
        log.warning(
            "job %s (%s) attempt %d lost the database (%s); it will be resumed",
            job_id,
            ctx.kind,
            attempt,
            reason,
        )
        raise RunInterrupted(job_id, attempt, reason) from None


def _job_actor(session: Session, job: Job) -> tuple[User | None, str | None]:
    if job.created_by == SYSTEM:
        return None, None
    try:
        user = get_user(session, job.created_by)
    except NotFound:
        return None, _("user {created_by!r} who started the job no longer exists").format(
            created_by=job.created_by
        )
    if not user.active:
        return None, _("user {username!r} who started the job is disabled").format(
            username=user.username
        )
    return user, None


def _run_claimed(
    ctx: JobContext, job: Job, body: Callable[[], dict[str, Any]], *, interruptible: bool
) -> JobState:
    log.info("job %s (%s) attempt %d started", ctx.job_id, ctx.kind, ctx.attempt)
    try:
        with _Monitor(ctx):
            result = body()
    except G2PError as error:
        log.warning("job %s (%s) failed: %s", ctx.job_id, ctx.kind, error.message)
        return _finish(ctx, job, JobState.FAILED, error=error.message, message=_("failed"))
    except Exception as error:
        if interruptible and is_database_lost(error):
            raise
        log.exception("job %s (%s) failed unexpectedly", ctx.job_id, ctx.kind)
        return _finish(ctx, job, JobState.FAILED, error=str(UNEXPECTED), message=_("failed"))
    message = str(result.get("message") or "done")
    return _finish(ctx, job, JobState.SUCCEEDED, result=result, message=message)


def _finish(ctx: JobContext, job: Job, state: JobState, **values: Any) -> JobState:
    with ctx._lock:
        latest = dict(ctx._progress)
    with unit_of_work(ctx.factory) as session:
        if latest:
            states.report(session, ctx.job_id, ctx.attempt, **latest)
        if not states.finish(session, ctx.actor, job, ctx.attempt, state, **values):
            log.warning(
                "job %s attempt %d lost its claim; its outcome is not recorded", job.id, ctx.attempt
            )
    log.info("job %s (%s) %s", ctx.job_id, ctx.kind, state)
    return state
