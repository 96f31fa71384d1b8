"""The jobs list, newest first (or oldest first), a table page at a time (``tables.py``).

``ix_jobs_created (created_at, id)`` serves the order; with a state filter
``ix_jobs_state_created`` serves both. Jobs sort by nothing else: few columns of a job are worth
an order, and none has an index.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.keyset import as_utc, as_uuid
from g2p_payment_phee.pagination import DEFAULT_LIMIT
from g2p_payment_phee.tables import Order, PageRequest, Sorting, TablePage, read_page
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

JOB_SORTING = Sorting(
    orders=(Order("created", (Job.created_at, Job.id), (as_utc, as_uuid)),),
    default="-created",
)


def list_jobs(
    session: Session,
    actor: User,
    *,
    state: JobState | None = None,
    subject_id: str | None = None,
    page: PageRequest | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> TablePage[Job]:
    """One page of jobs (newest first unless asked otherwise) and their count; filters by
    state and by the cycle or batch they work on."""
    authorize(actor, Permission.VIEW)
    request = page or PageRequest(cursor=cursor, limit=limit)
    conditions: list[ColumnElement[bool]] = []
    if state is not None:
        conditions.append(Job.state == state)
    if subject_id is not None:
        conditions.append(Job.subject_id == subject_id)
    query = select(Job).where(*conditions)
    count = select(Job.id).where(*conditions)
    return read_page(session, query, JOB_SORTING, request, count=count)
