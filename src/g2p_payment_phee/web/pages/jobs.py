"""Jobs: the list, and one job's progress and result (the page refreshes itself until the job
is final; no script needed)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.jobs.listing import list_jobs
from g2p_payment_phee.jobs.models import ACTIVE_JOB_STATES, JobState
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.web import job_words
from g2p_payment_phee.web.api.tables import Paging
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import SignedIn
from g2p_payment_phee.web.pages.forms import choice
from g2p_payment_phee.web.pages.rendering import render
from g2p_payment_phee.web.pages.tables import count_words

router = APIRouter()
REFRESH_SECONDS = 2


@router.get("/jobs")
def job_list(
    request: Request,
    session: DbSession,
    visitor: SignedIn,
    paging: Paging,
    state: str = "",
    subject: str = "",
) -> Response:
    """Jobs, newest first (or oldest first), counted; filters by state and by subject (a cycle
    or batch id)."""
    page = list_jobs(
        session,
        visitor.user,
        state=choice(JobState, state, "state"),
        subject_id=subject.strip() or None,
        page=paging.sized(50),
    )
    context = {
        "page": page,
        "count_text": count_words("jobs", page.count),
        "state": state,
        "subject": subject,
        "states": list(JobState),
    }
    return render(request, "jobs/list.html", context)


@router.get("/jobs/{job_id}")
def job_page(request: Request, session: DbSession, visitor: SignedIn, job_id: str) -> Response:
    """One job: state, progress, message, and its result or error once final."""
    job = jobs.get_job(session, visitor.user, job_id)
    cycle = None
    if job.subject_type == "cycle":
        try:
            cycle = session.get(Cycle, uuid.UUID(job.subject_id))
        except ValueError:
            cycle = None
    running = job.state in ACTIVE_JOB_STATES
    cycle_href = f"/cycles/{cycle.id}" if cycle is not None else None
    context = {
        "job": job,
        "cycle": cycle,
        "words": None if running else job_words.describe(job.kind, job.result, cycle_href),
        "refresh": REFRESH_SECONDS if running else 0,
    }
    return render(request, "jobs/detail.html", context)
