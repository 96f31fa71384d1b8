"""Scale mode: the Celery app, its tasks and the runner that sends jobs to it.

Every task takes ids only, reloads its rows and is safe to deliver twice: a job is claimed
(queued → running) before it runs, a batch is claimed (→ sending) before it is uploaded, and a
batch in ``outcome_unknown`` is looked up at PHEE before anything is resent. Messages are
acknowledged late (after the task returns) and given back to the broker when a worker dies;
each worker takes one message at a time. The beat schedule runs ``g2p.sweep``, which requeues
jobs whose worker died or whose message was lost, turns batches left in ``sending`` by a dead
worker into ``outcome_unknown`` and resolves them, and syncs submitted batches.

A message that names an id that no longer exists, or that comes from an older version (extra
or missing arguments), is logged and dropped: no harm is done.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from functools import lru_cache
from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import Settings, get_settings
from g2p_payment_phee.db import make_engine, make_session_factory, unit_of_work
from g2p_payment_phee.errors import G2PError, NotFound
from g2p_payment_phee.jobs.models import Job
from g2p_payment_phee.jobs.runner import install_runner
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.service import get_user

log = logging.getLogger(__name__)
SWEEP_TASK = "g2p.sweep"
SWEEP_BATCH_LIMIT = 1000

app = Celery("g2p_payment_phee")


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery's configuration from the product's settings."""
    broker = settings.broker_url.get_secret_value() if settings.broker_url else None
    return {
        "broker_url": broker,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,  # results live in the jobs table
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": settings.celery_queue,
        "broker_connection_retry_on_startup": True,
        # A dead worker's unacknowledged message comes back after this; the sweep (job
        # heartbeats) usually restarts the work sooner. Longer than any task may run.
        "broker_transport_options": {"visibility_timeout": 3600},
        "task_publish_retry_policy": {
            "max_retries": 3,
            "interval_start": 0.2,
            "interval_step": 0.5,
        },
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "g2p-sweep": {"task": SWEEP_TASK, "schedule": float(settings.sweep_seconds)}
        },
        "beat_schedule_filename": str(settings.data_dir / "celerybeat-schedule"),
    }


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    sender.conf.update(celery_config(get_settings()))


@lru_cache(maxsize=1)
def worker_factory() -> sessionmaker[Session]:
    """The worker process's session factory, with this app as its job runner."""
    factory = make_session_factory(make_engine(get_settings().database_url))
    install_runner(factory, CeleryRunner())
    return factory


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    worker_factory.cache_clear()  # a forked child must not share its parent's connections


class CeleryRunner:
    """Sends committed jobs to the Celery workers (scale mode)."""

    def dispatch(self, job_id: uuid.UUID) -> None:
        """Queue ``g2p.run_job`` for the job (raises if the broker cannot be reached; the job
        stays queued and the sweep dispatches it again)."""
        run_job_task.delay(str(job_id))

    def fan_out_send(self, batch_ids: list[uuid.UUID], username: str) -> None:
        """Let every worker help send a cycle: one ``g2p.send_batch`` per batch."""
        for batch_id in batch_ids:
            send_batch_task.delay(str(batch_id), username)


def _extra(name: str, extra: dict[str, Any]) -> None:
    if extra:
        log.warning("%s: ignoring arguments this version does not know: %s", name, sorted(extra))


def _uuid(name: str, value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        log.warning("%s: %r is not an id; message dropped", name, value)
        return None


@app.task(name="g2p.run_job")
def run_job_task(job_id: str | None = None, **extra: Any) -> None:
    """Run one job (any kind) by its id."""
    from g2p_payment_phee.jobs.tasks import run_job

    _extra("g2p.run_job", extra)
    key = _uuid("g2p.run_job", job_id)
    if key is not None:
        run_job(worker_factory(), key)


def _sender(session: Session, username: str | None) -> User | None:
    if not username:
        return None
    try:
        return get_user(session, username)
    except NotFound:
        return None


def send_one_batch(
    factory: sessionmaker[Session], batch_id: uuid.UUID, username: str | None
) -> str | None:
    """Send (or resolve) one batch as ``username``: the outcome, or None if nothing was done.
    The batch is claimed before its upload, so any number of workers may be asked at once."""
    from g2p_payment_phee.payments import service

    with unit_of_work(factory) as session:
        batch = session.get(PaymentBatch, batch_id)
        actor = _sender(session, username)
        if batch is None or actor is None:
            log.warning(
                "send of batch %s as %r: no such batch or user; dropped", batch_id, username
            )
            return None
        cycle_id = batch.cycle_id
    try:
        report = service.send_cycle(factory, actor, cycle_id, [batch_id])
    except G2PError as error:
        log.warning("batch %s not sent: %s", batch_id, error.message)
        return None
    return report.results[0].outcome if report.results else None


@app.task(name="g2p.send_batch")
def send_batch_task(batch_id: str | None = None, username: str | None = None, **extra: Any) -> None:
    """Send one batch of a cycle being sent (a helper of a send_cycle job)."""
    _extra("g2p.send_batch", extra)
    key = _uuid("g2p.send_batch", batch_id)
    if key is not None:
        send_one_batch(worker_factory(), key, username)


@app.task(name="g2p.resolve_batch")
def resolve_batch_task(
    batch_id: str | None = None, username: str | None = None, **extra: Any
) -> None:
    """Resolve a batch whose outcome is unknown: looked up at PHEE by its correlation id, and
    resent (same id, same file) only when PHEE provably does not have it."""
    _extra("g2p.resolve_batch", extra)
    key = _uuid("g2p.resolve_batch", batch_id)
    if key is not None:
        send_one_batch(worker_factory(), key, username)


@app.task(name="g2p.sync_batch")
def sync_batch_task(batch_id: str | None = None, **extra: Any) -> None:
    """Sync one submitted batch."""
    from g2p_payment_phee.payments.config_service import load_manager

    _extra("g2p.sync_batch", extra)
    key = _uuid("g2p.sync_batch", batch_id)
    if key is None:
        return
    factory = worker_factory()
    with unit_of_work(factory) as session:
        batch = session.get(PaymentBatch, key)
        if batch is None or batch.state is not BatchState.SUBMITTED:
            log.info("sync of batch %s: not a submitted batch; nothing to do", key)
            return
        manager = load_manager(session, batch.cycle.program)
    manager.sync(factory, None, [key])


@app.task(name=SWEEP_TASK)
def sweep_task(**extra: Any) -> None:
    """The periodic sweep (Celery beat)."""
    _extra(SWEEP_TASK, extra)
    sweep(worker_factory(), CeleryRunner())


def sweep(factory: sessionmaker[Session], runner: CeleryRunner) -> dict[str, int]:
    """Requeue dead or lost jobs; turn stale ``sending`` batches into ``outcome_unknown`` and
    resolve them (as the user who last sent their cycle); sync cycles with submitted batches.
    What it did, as counts."""
    from g2p_payment_phee.jobs.service import submit
    from g2p_payment_phee.jobs.sweep import sweep_jobs
    from g2p_payment_phee.phee.send import recover_stale_sending

    settings = get_settings()
    jobs = sweep_jobs(factory, runner)
    with unit_of_work(factory) as session:
        stale = recover_stale_sending(
            session, None, older_than=timedelta(seconds=settings.stale_sending_seconds)
        )
    resolved = _resolve_unknown(factory, runner)
    with unit_of_work(factory) as session:
        cycles = session.scalars(
            select(PaymentBatch.cycle_id)
            .where(PaymentBatch.state == BatchState.SUBMITTED)
            .group_by(PaymentBatch.cycle_id)
        ).all()
        for cycle_id in cycles:  # joins the sync job already under way, if any
            submit(session, None, "sync_cycle", {"cycle_id": str(cycle_id)})
    counts = {"jobs": len(jobs), "stale_sending": stale, "resolving": resolved}
    counts["syncing_cycles"] = len(cycles)
    log.info("sweep: %s", counts)
    return counts


def _resolve_unknown(factory: sessionmaker[Session], runner: CeleryRunner) -> int:
    with unit_of_work(factory) as session:
        unknown = session.execute(
            select(PaymentBatch.id, PaymentBatch.cycle_id)
            .where(PaymentBatch.state == BatchState.OUTCOME_UNKNOWN)
            .order_by(PaymentBatch.sequence)
            .limit(SWEEP_BATCH_LIMIT)
        ).tuples()
        senders: dict[uuid.UUID, str | None] = {}
        todo = []
        for batch_id, cycle_id in unknown:
            if cycle_id not in senders:
                senders[cycle_id] = _last_sender(session, cycle_id)
            sender = senders[cycle_id]
            if sender is None:
                log.warning("batch %s: outcome unknown and no send job to act for", batch_id)
                continue
            todo.append((batch_id, sender))
    for batch_id, sender in todo:
        resolve_batch_task.delay(str(batch_id), sender)
    return len(todo)


def _last_sender(session: Session, cycle_id: uuid.UUID) -> str | None:
    query = (
        select(Job.created_by)
        .where(Job.kind == "send_cycle", Job.subject_id == str(cycle_id))
        .order_by(Job.created_at.desc())
        .limit(1)
    )
    return session.scalar(query)
