"""Kept import files leave the database: when their job ends, or, for the sweep, when no job
will read them any more (their job's process died before it could delete them)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.import_jobs.models import ImportFile
from g2p_payment_phee.jobs.models import ACTIVE_JOB_STATES, Job

ORPHAN_AFTER = timedelta(hours=1)


def discard_file(session: Session, file_id: uuid.UUID) -> None:
    """Delete an import's file (its job has read it, or has failed)."""
    session.execute(delete(ImportFile).where(ImportFile.id == file_id))


def discard_orphans(session: Session, older_than: timedelta = ORPHAN_AFTER) -> int:
    """Delete files older than ``older_than`` that no queued or running job will read."""
    active = select(Job.params).where(Job.kind.like("import_%"), Job.state.in_(ACTIVE_JOB_STATES))
    waiting = {str(params.get("file_id")) for params in session.scalars(active)}
    old = session.scalars(
        select(ImportFile.id).where(ImportFile.created_at < utcnow() - older_than)
    ).all()
    orphans = [file_id for file_id in old if str(file_id) not in waiting]
    if orphans:
        session.execute(delete(ImportFile).where(ImportFile.id.in_(orphans)))
    return len(orphans)
