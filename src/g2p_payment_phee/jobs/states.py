"""The job's state machine (``JOB_MACHINE``, on the shared ``statemachine``) and the only
writers of ``Job.state``, each a conditional UPDATE through ``_move``.

::

    queued ──claim──▶ running ──finish──▶ succeeded | failed   (final)
       ▲                 │
       └──requeue_stale──┘   (its process died: heartbeat too old)
       └─requeue_interrupted─┘ (its run lost the database and is retried)

``attempts`` is the fencing token: ``claim`` increments it and every later write of that run
(heartbeat, progress, finish) is conditional on ``state = running AND attempts = <its attempt>``.
A run that was declared dead and requeued can therefore never overwrite the newer run's
progress or result, even if it wakes up again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.i18n import _
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.statemachine import StateMachine
from g2p_payment_phee.users.models import User

JOB_MACHINE = StateMachine[JobState](
    "job",
    {
        JobState.QUEUED: frozenset({JobState.RUNNING, JobState.FAILED}),
        JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.QUEUED}),
        JobState.SUCCEEDED: frozenset(),
        JobState.FAILED: frozenset(),
    },
)
FINAL_STATES = frozenset(s for s in JobState if JOB_MACHINE.is_final(s))
MESSAGE_LENGTH = 500


def _move(
    session: Session,
    job_id: uuid.UUID,
    source: JobState,
    target: JobState,
    values: dict[str, Any],
    *,
    attempt: int | None = None,
) -> bool:
    """``source → target`` as one conditional UPDATE (fenced by ``attempt`` when given): the
    only way a job's state is written. The move must be in JOB_MACHINE; False when the job was
    not in ``source`` (or not of that attempt) any more."""
    JOB_MACHINE.check(source, target)
    condition = [Job.id == job_id, Job.state == source]
    if attempt is not None:
        condition.append(Job.attempts == attempt)
    moved = session.execute(
        update(Job)
        .where(*condition)
        .values(state=target, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount == 1)  # type: ignore[attr-defined]


def claim(session: Session, job_id: uuid.UUID) -> int | None:
    """queued → running for this process; its attempt number, or None if another run has it
    (or it is final, or gone)."""
    now = utcnow()
    values = {"attempts": Job.attempts + 1, "started_at": now, "heartbeat_at": now, "error": None}
    if not _move(session, job_id, JobState.QUEUED, JobState.RUNNING, values):
        return None
    attempt = session.scalar(select(Job.attempts).where(Job.id == job_id))
    return int(attempt or 0)


def report(
    session: Session,
    job_id: uuid.UUID,
    attempt: int,
    *,
    done: int | None = None,
    total: int | None = None,
    message: str | None = None,
) -> bool:
    """Heartbeat (and progress, when given) of the running attempt; False if it lost the job."""
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if done is not None:
        values["progress_done"] = done
    if total is not None:
        values["progress_total"] = total
    if message is not None:
        values["message"] = message[:MESSAGE_LENGTH]
    return _update_run(session, job_id, attempt, values)


def finish(
    session: Session,
    actor: User | None,
    job: Job,
    attempt: int,
    state: JobState,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    message: str | None = None,
) -> bool:
    """running → succeeded | failed for the attempt that runs it; audited."""
    if state not in FINAL_STATES:
        raise ValueError(f"finish needs a final state, not {state}")
    values: dict[str, Any] = {"finished_at": utcnow(), "heartbeat_at": utcnow()}
    values.update(result=result, error=error)
    if message is not None:
        values["message"] = message[:MESSAGE_LENGTH]
    if not _move(session, job.id, JobState.RUNNING, state, values, attempt=attempt):
        return False
    audit.record(
        session, actor, AuditAction.moved("job", state), job, {"kind": job.kind, "error": error}
    )
    return True


def fail_unrunnable(session: Session, job: Job, error: str) -> bool:
    """queued → failed without running: the job cannot run at all (its user was removed, ...)."""
    values = {"error": error, "finished_at": utcnow()}
    if not _move(session, job.id, JobState.QUEUED, JobState.FAILED, values):
        return False
    audit.record(session, None, AuditAction.JOB_FAILED, job, {"kind": job.kind, "error": error})
    return True


def requeue_stale(session: Session, stale_after: timedelta) -> list[uuid.UUID]:
    """Running jobs whose heartbeat is older than ``stale_after`` (their process died) go back
    to queued, to be run again; their ids."""
    limit: datetime = utcnow() - stale_after
    stale = list(
        session.scalars(select(Job).where(Job.state == JobState.RUNNING, Job.heartbeat_at < limit))
    )
    requeued = []
    for job in stale:
        values = {"message": _("restarted: its worker stopped responding")}
        if _move(session, job.id, JobState.RUNNING, JobState.QUEUED, values, attempt=job.attempts):
            audit.record(
                session,
                None,
                AuditAction.JOB_REQUEUED,
                job,
                {"attempt": job.attempts, "stale": True},
            )
            requeued.append(job.id)
    return requeued


def requeue_interrupted(session: Session, job_id: uuid.UUID, attempt: int) -> bool:
    """running → queued for the run ``attempt`` that lost its database and has ended (its
    retry calls this before claiming again); False when the job moved on meanwhile (the sweep
    requeued it, another run has it, or it is final)."""
    values = {"message": _("resumed: its run lost the database")}
    if not _move(session, job_id, JobState.RUNNING, JobState.QUEUED, values, attempt=attempt):
        return False
    job = session.get(Job, job_id)
    if job is not None:
        audit.record(
            session, None, AuditAction.JOB_REQUEUED, job, {"attempt": attempt, "interrupted": True}
        )
    return True


def _update_run(session: Session, job_id: uuid.UUID, attempt: int, values: dict[str, Any]) -> bool:
    updated = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.RUNNING, Job.attempts == attempt)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(updated.rowcount == 1)  # type: ignore[attr-defined]
