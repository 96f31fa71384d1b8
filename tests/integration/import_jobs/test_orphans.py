"""Kept import files that no job will read are deleted by the sweep (and only those)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.import_jobs.files import discard_orphans
from g2p_payment_phee.import_jobs.models import ImportFile
from g2p_payment_phee.jobs.models import Job, JobState


def _file(session: Session, hours_old: float) -> ImportFile:
    stored = ImportFile(
        kind="registrants", file_name="f.csv", format="csv", size=1, content=b"x", created_by="u"
    )
    session.add(stored)
    session.flush()
    session.execute(
        update(ImportFile)
        .where(ImportFile.id == stored.id)
        .values(created_at=utcnow() - timedelta(hours=hours_old))
    )
    return stored


def _job(session: Session, stored: ImportFile, state: JobState) -> None:
    session.add(
        Job(
            kind="import_registrants",
            params={"file_id": str(stored.id), "dry_run": False},
            dedupe_key=f"import:{stored.id}",
            state=state,
        )
    )
    session.flush()


def test_only_old_files_no_active_job_reads_are_discarded(session: Session) -> None:
    fresh = _file(session, 0)
    waiting = _file(session, 5)
    _job(session, waiting, JobState.QUEUED)
    finished = _file(session, 5)
    _job(session, finished, JobState.FAILED)
    forgotten = _file(session, 2)
    assert discard_orphans(session) == 2
    left = set(session.scalars(select(ImportFile.id)))
    assert left == {fresh.id, waiting.id}
    assert finished.id not in left
    assert forgotten.id not in left
