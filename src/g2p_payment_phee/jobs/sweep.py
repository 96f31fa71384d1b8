"""The sweep: finds job work that nobody is doing and hands it out again.

It also deletes uploaded import files that no job will read any more. Two cases of jobs, both
harmless to repeat (every run claims its job, and send claims its batches):
a job left ``running`` whose heartbeat stopped (its process died) is requeued; a job still
``queued`` a while after it was created (its dispatch was lost: broker down, process stopped
before its pool took it) is dispatched again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.db import unit_of_work, utcnow
from g2p_payment_phee.import_jobs.service import discard_orphans
from g2p_payment_phee.jobs import states
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.jobs.runner import JobRunner

log = logging.getLogger(__name__)
LOST_AFTER = timedelta(seconds=30)
SWEEP_LIMIT = 500


def sweep_jobs(
    factory: sessionmaker[Session],
    runner: JobRunner,
    *,
    stale_after: timedelta | None = None,
    lost_after: timedelta = LOST_AFTER,
) -> list[uuid.UUID]:
    """Requeue dead runs (heartbeat older than ``stale_after``, default G2P_STALE_JOB_SECONDS),
    then dispatch every job queued for longer than ``lost_after``."""
    if stale_after is None:
        from g2p_payment_phee.config import get_settings

        stale_after = timedelta(seconds=get_settings().stale_job_seconds)
    with unit_of_work(factory) as session:
        requeued = states.requeue_stale(session, stale_after)
        discard_orphans(session)
        waiting = session.scalars(
            select(Job.id)
            .where(Job.state == JobState.QUEUED, Job.created_at < utcnow() - lost_after)
            .order_by(Job.created_at)
            .limit(SWEEP_LIMIT)
        ).all()
    todo = list(dict.fromkeys([*requeued, *waiting]))
    for job_id in todo:
        runner.dispatch(job_id)
    if todo:
        log.info(
            "sweep: %d jobs requeued after their worker died, %d dispatched",
            len(requeued),
            len(todo),
        )
    return todo
