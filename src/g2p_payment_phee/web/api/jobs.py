"""``/jobs``: long work (prepare, send, sync, retry) and its progress and result."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from g2p_payment_phee.jobs import listing, service
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.pagination import DEFAULT_LIMIT
from g2p_payment_phee.web.api.schemas import Limit
from g2p_payment_phee.web.api.tables import Paging, TablePublic, table_of
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/jobs", tags=["jobs"])


class JobPublic(BaseModel):
    """A job: what it does, how far it got, and its result or error once final."""

    id: uuid.UUID
    kind: str
    state: JobState
    final: bool
    params: dict[str, Any]
    subject_type: str
    subject_id: str
    progress_done: int
    progress_total: int | None
    message: str
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_by: str
    created_at: datetime | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None


class JobsPublic(TablePublic[JobPublic]):
    """A page of jobs, newest first (``sort=created``: oldest first)."""


def job_public(job: Job) -> JobPublic:
    """A job as answered (the same view the pages show)."""
    return JobPublic.model_validate(service.job_view(job))


JOB_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": JobPublic, "description": "The job doing the work (poll /jobs/{id})"}
}


def job_accepted(job: Job) -> JSONResponse:
    """202 with the job doing the work, and where to follow it."""
    headers = {"Location": f"/api/v1/jobs/{job.id}"}
    return JSONResponse(jsonable_encoder(job_public(job)), status_code=202, headers=headers)


@router.get("")
def list_jobs(
    user: ApiUser,
    session: DbSession,
    paging: Paging,
    state: JobState | None = None,
    subject_id: str | None = Query(None, max_length=64),
    limit: Limit = DEFAULT_LIMIT,
) -> JobsPublic:
    """Jobs, newest first, with their count; filter by state or by the cycle/batch they work
    on."""
    page = listing.list_jobs(
        session, user, state=state, subject_id=subject_id, page=paging.sized(limit)
    )
    return JobsPublic.model_validate(table_of([job_public(j) for j in page.items], page))


@router.get("/{job_id}")
def read_job(job_id: uuid.UUID, user: ApiUser, session: DbSession) -> JobPublic:
    """One job."""
    return job_public(service.get_job(session, user, job_id))
