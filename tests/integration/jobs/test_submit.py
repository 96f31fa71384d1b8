"""jobs.service.submit: role checks, parameter checks, one job per piece of work (also under
concurrency on PostgreSQL), dispatch only after the commit, listing and views."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.errors import NotFound, PermissionDenied, ValidationFailed
from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.jobs.conftest import RecordingRunner


@pytest.fixture
def cycle(session: Session, admin: User, approver: User) -> Cycle:
    program = factories.program(session, admin)
    found = factories.approved_cycle(session, admin, approver, program, beneficiaries=2)
    session.commit()
    return found


def _count(session: Session, model: type[Job] | type[AuditEvent], *where: Any) -> int:
    count = session.scalar(select(func.count()).select_from(model).where(*where))
    return int(count or 0)


def test_dispatched_only_after_commit_and_once_per_work(
    session: Session, admin: User, cycle: Cycle, recorder: RecordingRunner
) -> None:
    job = jobs.submit(session, admin, "send_cycle", {"cycle_id": str(cycle.id)})
    assert job.state is JobState.QUEUED
    assert (job.kind, job.created_by, job.subject_id) == ("send_cycle", "admin", str(cycle.id))
    assert recorder.dispatched == []  # not before the commit
    session.commit()
    assert recorder.dispatched == [job.id]

    again = jobs.submit(session, admin, "send_cycle", {"cycle_id": cycle.id})  # a reload
    session.commit()
    assert again.id == job.id
    assert recorder.dispatched == [job.id]  # joined, not started twice
    submitted = _count(session, AuditEvent, AuditEvent.action == "job.submitted")
    assert submitted == 1

    other = jobs.submit(session, admin, "sync_cycle", {"cycle_id": str(cycle.id)})
    assert other.id != job.id  # another piece of work
    session.rollback()
    assert recorder.dispatched == [job.id]  # nothing dispatched on rollback
    assert _count(session, Job, Job.kind == "sync_cycle") == 0
    session.commit()  # a later commit of the same session does not resurrect it
    assert recorder.dispatched == [job.id]


def test_a_finished_job_does_not_block_new_work(
    session: Session, admin: User, cycle: Cycle, recorder: RecordingRunner
) -> None:
    first = jobs.submit(session, admin, "sync_cycle", {"cycle_id": str(cycle.id)})
    session.commit()
    first.state = JobState.SUCCEEDED  # as if it ran
    session.commit()
    second = jobs.submit(session, admin, "sync_cycle", {"cycle_id": str(cycle.id)})
    session.commit()
    assert second.id != first.id
    assert recorder.dispatched == [first.id, second.id]


def test_dry_run_and_real_prepare_are_different_work(
    session: Session, admin: User, cycle: Cycle, recorder: RecordingRunner
) -> None:
    dry = jobs.submit(session, admin, "prepare_cycle", {"cycle_id": str(cycle.id), "dry_run": True})
    real = jobs.submit(session, admin, "prepare_cycle", {"cycle_id": str(cycle.id)})
    assert dry.id != real.id
    assert dry.params == {"cycle_id": str(cycle.id), "dry_run": True}


@pytest.mark.parametrize(
    ("role_user", "kind"),
    [
        ("viewer", "prepare_cycle"),
        ("viewer", "sync_cycle"),
        ("approver", "prepare_cycle"),
        ("approver", "retry_failed"),
        ("manager", "send_cycle"),
        ("manager", "sync_cycle"),
    ],
)
def test_roles_are_checked_per_kind(
    session: Session,
    cycle: Cycle,
    recorder: RecordingRunner,
    role_user: str,
    kind: str,
    request: pytest.FixtureRequest,
) -> None:
    actor: User = request.getfixturevalue(role_user)
    with pytest.raises(PermissionDenied):
        jobs.submit(session, actor, kind, {"cycle_id": str(cycle.id)})
    session.commit()
    assert _count(session, Job) == 0
    assert recorder.dispatched == []


def test_the_product_itself_may_start_only_system_kinds(
    session: Session, cycle: Cycle, recorder: RecordingRunner
) -> None:
    with pytest.raises(PermissionDenied):
        jobs.submit(session, None, "send_cycle", {"cycle_id": str(cycle.id)})
    job = jobs.submit(session, None, "sync_cycle", {"cycle_id": str(cycle.id)})
    assert job.created_by == "system"


def test_a_disabled_user_may_not_submit(
    session: Session, cycle: Cycle, recorder: RecordingRunner
) -> None:
    from g2p_payment_phee.users.models import Role

    ghost = factories.user(session, "ghost", Role.ADMIN, active=False)
    with pytest.raises(PermissionDenied, match="disabled"):
        jobs.submit(session, ghost, "sync_cycle", {"cycle_id": str(cycle.id)})


@pytest.mark.parametrize(
    ("kind", "params", "error", "field"),
    [
        ("pay_everyone", {}, ValidationFailed, "kind"),
        ("send_cycle", {}, ValidationFailed, "cycle_id"),
        ("send_cycle", {"cycle_id": "not-a-uuid"}, ValidationFailed, "cycle_id"),
        ("send_cycle", {"cycle_id": "CYCLE", "batch_ids": []}, ValidationFailed, "batch_ids"),
        ("prepare_cycle", {"cycle_id": "CYCLE", "dry_run": "yes"}, ValidationFailed, "dry_run"),
        ("sync_batch", {"batch_id": ""}, ValidationFailed, "batch_id"),
        ("sync_cycle", {"cycle_id": str(uuid.uuid4())}, NotFound, None),
        ("sync_batch", {"batch_id": str(uuid.uuid4())}, NotFound, None),
        ("send_cycle", {"cycle_id": "CYCLE", "batch_ids": [str(uuid.uuid4())]}, NotFound, None),
    ],
)
def test_bad_parameters_are_refused_with_the_field(
    session: Session,
    admin: User,
    cycle: Cycle,
    recorder: RecordingRunner,
    kind: str,
    params: dict[str, object],
    error: type[Exception],
    field: str | None,
) -> None:
    params = {k: str(cycle.id) if v == "CYCLE" else v for k, v in params.items()}
    with pytest.raises(error) as raised:
        jobs.submit(session, admin, kind, params)
    if field is not None:
        assert isinstance(raised.value, ValidationFailed)
        assert [e.field for e in raised.value.errors] == [field]
    session.commit()
    assert recorder.dispatched == []


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=False)
def test_concurrent_submits_on_postgres_make_one_job(
    backend: str,
    engine: Engine,
    session_factory: sessionmaker[Session],
    session: Session,
    admin: User,
    cycle: Cycle,
    recorder: RecordingRunner,
) -> None:
    """Both transactions see no job; the second INSERT waits on the unique index, fails when
    the first commits, and the second caller gets the first job — its transaction intact."""
    session.commit()
    first, second = session_factory(), session_factory()
    params = {"cycle_id": str(cycle.id)}
    a = jobs.submit(first, admin, "send_cycle", params)
    joined: list[Job] = []
    failures: list[BaseException] = []

    def submit_second() -> None:
        try:
            joined.append(jobs.submit(second, admin, "send_cycle", params))
            jobs.submit(second, admin, "sync_cycle", params)  # the transaction is still usable
            second.commit()
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=submit_second)
    thread.start()
    _wait_for_a_lock_wait(engine)
    first.commit()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert failures == []
    assert joined[0].id == a.id
    assert _count(session, Job, Job.kind == "send_cycle") == 1
    assert _count(session, Job, Job.kind == "sync_cycle") == 1
    assert recorder.dispatched.count(a.id) == 1
    first.close()
    second.close()


def _wait_for_a_lock_wait(engine: Engine, timeout: float = 20.0) -> None:
    """Until some backend waits on a lock (the second INSERT on the unique index)."""
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    done = threading.Event()
    deadline = timeout
    while deadline > 0:
        with engine.connect() as conn:
            if conn.scalar(waiting):
                return
        done.wait(0.05)
        deadline -= 0.05
    pytest.fail("the second submit never waited on the first one's row")


def test_get_list_and_view(
    session: Session, admin: User, viewer: User, cycle: Cycle, recorder: RecordingRunner
) -> None:
    made = [
        jobs.submit(session, admin, kind, {"cycle_id": str(cycle.id)})
        for kind in ("prepare_cycle", "send_cycle", "sync_cycle")
    ]
    session.commit()
    assert jobs.get_job(session, viewer, str(made[0].id)).id == made[0].id
    with pytest.raises(NotFound):
        jobs.get_job(session, viewer, "nope")
    with pytest.raises(NotFound):
        jobs.get_job(session, viewer, uuid.uuid4())
    seen: list[uuid.UUID] = []
    page = jobs.list_jobs(session, viewer, limit=2, subject_id=str(cycle.id))
    seen += [j.id for j in page.items]
    assert page.next_cursor is not None
    page = jobs.list_jobs(session, viewer, limit=2, cursor=page.next_cursor)
    seen += [j.id for j in page.items]
    assert page.next_cursor is None
    assert sorted(seen) == sorted(j.id for j in made)
    assert jobs.list_jobs(session, viewer, state=JobState.RUNNING).items == []
    with pytest.raises(ValidationFailed):
        jobs.list_jobs(session, viewer, cursor="garbage")
    from g2p_payment_phee.pagination import encode_cursor

    naive = encode_cursor(["2026-01-01T00:00:00", str(uuid.uuid4())])  # hand-made, no zone
    with pytest.raises(ValidationFailed):
        jobs.list_jobs(session, viewer, cursor=naive)
    view = jobs.job_view(made[1])
    assert view["state"] == "queued"
    assert view["kind"] == "send_cycle"
    assert view["created_by"] == "admin"
    import json

    json.dumps(view)  # JSON-able as it is
