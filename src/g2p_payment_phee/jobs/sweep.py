"""The sweep: work nobody is doing, found and handed out again, whatever runs the jobs.

It runs every ``G2P_SWEEP_SECONDS``: in the embedded mode on a thread of the server
(``InProcessRunner``), in the scale mode as a Celery beat task. Each step is harmless to
repeat (every run claims its job, and send claims its batches):

1. ``sending`` claims whose lease lapsed (their process died) are released: a batch whose
   upload may have started becomes ``outcome_unknown``, one whose upload never started goes
   back to ``prepared``;
2. jobs left ``running`` whose heartbeat stopped (their process died) are requeued; jobs still
   ``queued`` a while after they were created (their dispatch was lost) are dispatched again;
   uploaded import files no job will read are deleted;
3. those, and every ``outcome_unknown`` batch whose quiet period is over, are sent again by a
   send job as the user who last sent their cycle: the send looks each up at the hub first and
   resends only what the hub provably does not hold;
4. every cycle with batches to sync gets a sync job (joining the one under way), so payments
   become paid or failed with nobody clicking Sync;
5. overdue payments are reported in the log (a warning when their number grew);
6. G2P Connect callbacks: each record whose status changed since its sender was last told is
   written to the outbox, and the due callbacks are delivered (``g2p_connect.callback_tasks``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import unit_of_work, utcnow
from g2p_payment_phee.errors import NotFound
from g2p_payment_phee.g2p_connect.callback_tasks import sweep_callbacks
from g2p_payment_phee.import_jobs.files import discard_orphans
from g2p_payment_phee.jobs import states
from g2p_payment_phee.jobs.kinds import JobKind
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.jobs.runner import JobRunner
from g2p_payment_phee.jobs.service import SYSTEM, submit
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.overdue import overdue_payments
from g2p_payment_phee.payments.resend import quiet_over, release_lapsed_claims, syncable
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, can
from g2p_payment_phee.users.service import get_user

log = logging.getLogger(__name__)
LOST_AFTER = timedelta(seconds=30)
SWEEP_LIMIT = 500
SWEEP_BATCH_LIMIT = 1000


def sweep(factory: sessionmaker[Session], runner: JobRunner) -> dict[str, int]:
    """One pass of the whole sweep (see the module); what it did, as counts."""
    # Claims first: a dead run's batches are settled before its job is handed out again.
    with unit_of_work(factory) as session:
        released = release_lapsed_claims(session, None)
        again = [(b.id, b.cycle_id) for b in released if b.state is BatchState.PREPARED]
    jobs = sweep_jobs(factory, runner)
    resending = _send_unknown(factory, again)
    with unit_of_work(factory) as session:
        cycles = session.scalars(
            select(PaymentBatch.cycle_id).where(syncable()).group_by(PaymentBatch.cycle_id)
        ).all()
        for cycle_id in cycles:
            submit(session, None, JobKind.SYNC_CYCLE, {"cycle_id": str(cycle_id)})
    counts = {
        "jobs": len(jobs),
        "released_claims": len(released),
        "resending": resending,
        "syncing_cycles": len(cycles),
        "overdue_payments": _report_overdue(factory),
        **sweep_callbacks(factory),
    }
    log.info("sweep: %s", counts)
    return counts


def sweep_jobs(
    factory: sessionmaker[Session],
    runner: JobRunner,
    *,
    stale_after: timedelta | None = None,
    lost_after: timedelta = LOST_AFTER,
) -> list[uuid.UUID]:
    """Requeue dead runs (heartbeat older than ``stale_after``, default G2P_STALE_JOB_SECONDS),
    then dispatch every job queued for longer than ``lost_after``; the ids dispatched."""
    if stale_after is None:
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


def _send_unknown(
    factory: sessionmaker[Session], released: list[tuple[uuid.UUID, uuid.UUID]]
) -> int:
    """A send job per cycle for its released and unknown-outcome batches, as the user who last
    sent the cycle; how many batches those jobs cover."""
    with unit_of_work(factory) as session:
        unknown = released + list(
            session.execute(
                select(PaymentBatch.id, PaymentBatch.cycle_id)
                # within their quiet period a lookup could only find them, never resend them:
                # the sweep waits for its end (``send`` looks them up whenever it is asked)
                .where(PaymentBatch.state == BatchState.OUTCOME_UNKNOWN, quiet_over())
                .order_by(PaymentBatch.sequence)
                .limit(SWEEP_BATCH_LIMIT)
            ).tuples()
        )
        by_cycle: dict[uuid.UUID, list[str]] = {}
        for batch_id, cycle_id in unknown:
            by_cycle.setdefault(cycle_id, []).append(str(batch_id))
        covered = 0
        for cycle_id, batch_ids in by_cycle.items():
            sender = _last_sender(session, cycle_id)
            if sender is None:
                log.warning(
                    "cycle %s: %d batches to resolve and no active user who sent it to act as",
                    cycle_id,
                    len(batch_ids),
                )
                continue
            params = {"cycle_id": str(cycle_id), "batch_ids": batch_ids}
            submit(session, sender, JobKind.SEND_CYCLE, params)
            covered += len(batch_ids)
    return covered


def _last_sender(session: Session, cycle_id: uuid.UUID) -> User | None:
    """The active user who last started a send of the cycle and may still send."""
    query = (
        select(Job.created_by)
        .where(Job.kind == JobKind.SEND_CYCLE.value, Job.subject_id == str(cycle_id))
        .order_by(Job.created_at.desc())
        .limit(1)
    )
    username = session.scalar(query)
    if username is None or username == SYSTEM:
        return None
    try:
        user = get_user(session, username)
    except NotFound:
        return None
    return user if user.active and can(user, Permission.SEND_PAYMENTS) else None


class _OverdueSeen:
    """Overdue payments at this process's last sweep (one process runs the sweep)."""

    def __init__(self) -> None:
        self.payments = 0
        self.lock = threading.Lock()


_overdue_seen = _OverdueSeen()


def _report_overdue(factory: sessionmaker[Session]) -> int:
    with unit_of_work(factory) as session:
        overdue = overdue_payments(session, None, older_than=get_settings().overdue_after)
    with _overdue_seen.lock:
        if overdue.payments:
            names = ", ".join(batch.name for batch in overdue.listed[:5])
            # A warning when more payments are overdue than at this process's last sweep; the
            # same news every minute after that is information (the count is in the counts).
            grown = overdue.payments > _overdue_seen.payments
            level = logging.WARNING if grown else logging.INFO
            log.log(level, "%s Oldest batches: %s", overdue.describe(), names)
        _overdue_seen.payments = overdue.payments
    return overdue.payments
