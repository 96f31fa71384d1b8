"""Jobs use cases: submit long work, read it back.

``submit`` is what pages, the API and the CLI call to start prepare/send/sync: it checks the
actor's role for the kind, validates the parameters, joins the job already queued or running
for the same work (its dedupe key; the partial unique index makes this hold between processes
too) and records an audit event. The job is handed to the runner only after the caller's
transaction commits (see ``jobs.runner``): a rolled-back submit dispatches nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.errors import Conflict, NotFound
from g2p_payment_phee.i18n import _
from g2p_payment_phee.jobs.kinds import JobKind, kind_spec
from g2p_payment_phee.jobs.models import ACTIVE_JOB_STATES, Job, JobState
from g2p_payment_phee.jobs.runner import queue_for_dispatch
from g2p_payment_phee.keyset import as_utc, as_uuid, read_cursor
from g2p_payment_phee.pagination import Page, check_limit, encode_cursor
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

SYSTEM = "system"
INSERT_ATTEMPTS = 3


def submit(
    session: Session,
    actor: User | None,
    kind: str | JobKind,
    params: dict[str, Any],
    *,
    subject_type: str = "",
    subject_id: str = "",
    dedupe_key: str | None = None,
) -> Job:
    """Start ``kind`` with ``params`` as ``actor`` (None: the product itself, for system kinds),
    or return the job already queued or running for the same work.

    ``dedupe_key`` None uses the kind's own key (the kind and its subject), so a reload or a
    second click joins the job under way. The job is dispatched after the session commits."""
    spec = kind_spec(kind)
    if actor is None and not spec.system:
        authorize(None, spec.permission)
    if actor is not None:
        authorize(actor, spec.permission)
    clean = spec.normalize(session, params)
    key = dedupe_key if dedupe_key is not None else spec.key(clean)
    for _attempt in range(INSERT_ATTEMPTS):
        existing = _active_job(session, key)
        if existing is not None:
            return existing
        job = Job(
            kind=kind,
            params=clean,
            dedupe_key=key,
            state=JobState.QUEUED,
            created_by=actor.username if actor is not None else SYSTEM,
            subject_type=subject_type or spec.subject_type,
            subject_id=subject_id or clean[spec.subject_param],
            progress_done=0,
            message=_("queued"),
            attempts=0,
        )
        if _insert_unless_taken(session, job):
            audit.record(
                session, actor, AuditAction.JOB_SUBMITTED, job, {"kind": kind, "params": clean}
            )
            queue_for_dispatch(session, job.id)
            return job
    raise Conflict(
        _("could not start {kind}: the same work keeps starting and ending; retry").format(
            kind=kind
        )
    )


def _active_job(session: Session, key: str) -> Job | None:
    query = select(Job).where(Job.dedupe_key == key, Job.state.in_(ACTIVE_JOB_STATES))
    return session.scalar(query)


def _insert_unless_taken(session: Session, job: Job) -> bool:
    """Insert the job in a SAVEPOINT; False when another transaction holds the key (the
    partial unique index refused it), leaving the caller's transaction usable."""
    _ensure_transaction(session)
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        return False
    return True


def _ensure_transaction(session: Session) -> None:
    """SQLite's driver opens a transaction only before data changes; a SAVEPOINT issued outside
    one would start (and on RELEASE commit) a transaction of its own, escaping the caller's
    rollback. Open the real transaction first."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    dbapi = connection.connection.dbapi_connection
    if dbapi is not None and not getattr(dbapi, "in_transaction", True):
        connection.exec_driver_sql("BEGIN")


def get_job(session: Session, actor: User, job_id: uuid.UUID | str) -> Job:
    """A job by id; NotFound for unknown or malformed ids."""
    authorize(actor, Permission.VIEW)
    try:
        key = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except ValueError:
        raise NotFound(_("no job {job_id!r}").format(job_id=job_id)) from None
    job = session.get(Job, key)
    if job is None:
        raise NotFound(_("no job {job_id}").format(job_id=job_id))
    return job


def list_jobs(
    session: Session,
    actor: User,
    *,
    state: JobState | None = None,
    subject_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Job]:
    """Jobs, newest first, a page at a time (keyset on created_at, id)."""
    authorize(actor, Permission.VIEW)
    check_limit(limit)
    query = select(Job)
    if state is not None:
        query = query.where(Job.state == state)
    if subject_id is not None:
        query = query.where(Job.subject_id == subject_id)
    if cursor is not None:
        created, last_id = _job_cursor(cursor)
        query = query.where(
            or_(Job.created_at < created, and_(Job.created_at == created, Job.id < last_id))
        )
    rows = list(
        session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1))
    )
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor([last.created_at.isoformat(), str(last.id)])
    return Page(items, next_cursor, limit)


def _job_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    key = read_cursor(cursor, as_utc, as_uuid)  # refuses naive timestamps and bad ids
    assert key is not None
    return key[0], key[1]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def job_view(job: Job) -> dict[str, Any]:
    """The job as JSON-able data, for the API and the pages."""
    return {
        "id": str(job.id),
        "kind": job.kind,
        "state": job.state.value,
        "final": job.state not in ACTIVE_JOB_STATES,
        "params": job.params,
        "subject_type": job.subject_type,
        "subject_id": job.subject_id,
        "progress_done": job.progress_done,
        "progress_total": job.progress_total,
        "message": job.message,
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "created_by": job.created_by,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "heartbeat_at": _iso(job.heartbeat_at),
        "finished_at": _iso(job.finished_at),
    }
