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

When the database cannot be reached (refused, dropped, a deadlock), a task is retried later
with capped exponential backoff and jitter (``DATABASE_RETRIES`` times, then the sweep is the
backstop); a job's run that lost it mid-way is resumed by the retry (``tasks.RunInterrupted``).
The log names the driver's error only, never the SQL or its parameters. A send or sync job's
helpers are started best-effort: if the broker cannot take them, the job does the work itself.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import TYPE_CHECKING, Any, NoReturn

from celery import Celery, Task
from celery.signals import worker_process_init
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import Settings, get_settings
from g2p_payment_phee.db import make_engine, make_session_factory, unit_of_work
from g2p_payment_phee.errors import G2PError, NotFound
from g2p_payment_phee.jobs.models import Job
from g2p_payment_phee.jobs.runner import install_runner
from g2p_payment_phee.payments import resend
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.reports import SendReport
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.service import get_user

if TYPE_CHECKING:
    from g2p_payment_phee.payments.manager import PaymentManager
    from g2p_payment_phee.phee.client import PheeClient

log = logging.getLogger(__name__)
SWEEP_TASK = "g2p.sweep"
SWEEP_BATCH_LIMIT = 1000
DATABASE_RETRIES = 60  # with the cap below: about half an hour of outage, then the sweep
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0

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
    _hub_clients.__dict__.clear()


_hub_clients = threading.local()  # this thread's PHEE clients, by program and configuration


def _hub_client(manager: PaymentManager) -> PheeClient | None:
    """This thread's client for a PHEE manager, kept between tasks so that its token and
    connections are reused (a batch at a time, a new client would fetch a token for each);
    a new one when the manager's configuration changed. None for other managers."""
    from g2p_payment_phee.phee.manager import PheeManager

    if not isinstance(manager, PheeManager):
        return None
    config = manager.settings.model_dump_json() + manager.secrets.model_dump_json()
    key = (manager.program.id, hashlib.sha256(config.encode()).hexdigest())
    clients: dict[tuple[uuid.UUID, str], PheeClient] = _hub_clients.__dict__.setdefault(
        "clients", {}
    )
    client = clients.get(key)
    if client is None:
        for old in [k for k in clients if k[0] == key[0]]:
            clients.pop(old).close()
        client = clients[key] = manager.client()
    return client


def send_with_worker_client(
    factory: sessionmaker[Session],
    actor: User,
    manager: PaymentManager,
    batch_ids: list[uuid.UUID],
) -> SendReport:
    """The manager's send, through this thread's kept client when it is a PHEE manager."""
    from g2p_payment_phee.phee.manager import PheeManager
    from g2p_payment_phee.phee.send import send_batches

    client = _hub_client(manager)
    if client is None or not isinstance(manager, PheeManager):
        return manager.send(factory, actor, batch_ids)
    return send_batches(factory, actor, manager, batch_ids, client=client)


class CeleryRunner:
    """Sends committed jobs to the Celery workers (scale mode)."""

    def dispatch(self, job_id: uuid.UUID) -> None:
        """Queue ``g2p.run_job`` for the job (raises if the broker cannot be reached; the job
        stays queued and the sweep dispatches it again)."""
        run_job_task.delay(str(job_id))

    def send_batches(
        self,
        factory: sessionmaker[Session],
        actor: User,
        manager: PaymentManager,
        batch_ids: list[uuid.UUID],
    ) -> SendReport:
        """Send batches from a fanned-out send job, with this worker's kept hub client."""
        return send_with_worker_client(factory, actor, manager, batch_ids)

    def fan_out_send(self, chunks: list[list[uuid.UUID]], username: str) -> int:
        """Let every worker help send a cycle: one ``g2p.send_batches`` per chunk of batches.
        Best-effort (the job sends every batch itself too); how many helpers were queued."""
        messages = [(([str(i) for i in chunk], username), send_batches_task) for chunk in chunks]
        return _fan_out("send", messages)

    def fan_out_sync(self, chunks: list[list[uuid.UUID]], username: str | None) -> int:
        """Let every worker help sync a cycle: one ``g2p.sync_batches`` per chunk of batches.
        Best-effort (the job syncs every batch itself too); how many helpers were queued."""
        messages = [(([str(i) for i in chunk], username), sync_batches_task) for chunk in chunks]
        return _fan_out("sync", messages)


def _fan_out(what: str, messages: list[tuple[tuple[Any, ...], Task[Any, Any]]]) -> int:
    sent = 0
    try:
        for args, task in messages:
            task.delay(*args)
            sent += 1
    except Exception as error:  # the broker is away: the job does the rest on its own
        log.warning(
            "%s helpers: %d of %d queued, the rest not (%s); the job does them itself",
            what,
            sent,
            len(messages),
            type(error).__name__,
        )
    return sent


class DatabaseUnavailable(Exception):
    """The database could not be reached; the task is retried later."""


def _retry_later(task: Task[Any, Any], reason: str, **kwargs: Any) -> NoReturn:
    """Retry ``task`` after a capped exponential backoff with jitter (``kwargs`` replace the
    message's arguments); after DATABASE_RETRIES, give up and let the sweep pick it up."""
    retries = int(task.request.retries or 0)
    if retries >= DATABASE_RETRIES:
        log.error(
            "%s: the database is still unreachable after %d retries (%s); giving up, the "
            "sweep picks the work up again",
            task.name,
            retries,
            reason,
        )
        raise DatabaseUnavailable(reason) from None
    ceiling = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2**retries)
    countdown = ceiling * random.uniform(0.5, 1.0)
    log.warning(
        "%s: the database is unreachable (%s); retry %d in %.1f s",
        task.name,
        reason,
        retries + 1,
        countdown,
    )
    raise task.retry(
        exc=DatabaseUnavailable(reason),
        countdown=countdown,
        max_retries=None,
        kwargs=kwargs or None,
    )


def _retry_when_database_lost(
    body: Callable[..., None],
) -> Callable[..., None]:
    """Run a task body; when it loses the database, retry the task later (same arguments)."""

    @wraps(body)
    def run(self: Task[Any, Any], *args: Any, **kwargs: Any) -> None:
        from g2p_payment_phee.db import database_problem, is_database_lost

        try:
            body(*args, **kwargs)
        except Exception as error:
            if not is_database_lost(error):
                raise
            _retry_later(self, database_problem(error))

    return run


def _extra(name: str, extra: dict[str, Any]) -> None:
    if extra:
        log.warning("%s: ignoring arguments this version does not know: %s", name, sorted(extra))


def _uuid(name: str, value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        log.warning("%s: %r is not an id; message dropped", name, value)
        return None


@app.task(name="g2p.run_job", bind=True)
def run_job_task(
    self: Task[Any, Any], /, job_id: str | None = None, resume: int | None = None, **extra: Any
) -> None:
    """Run one job (any kind) by its id; ``resume``: the attempt of this job's run that lost
    the database (the retry hands it back first)."""
    from g2p_payment_phee.db import database_problem, is_database_lost
    from g2p_payment_phee.jobs.tasks import RunInterrupted, run_job

    _extra("g2p.run_job", extra)
    key = _uuid("g2p.run_job", job_id)
    if key is None:
        return
    attempt = resume if isinstance(resume, int) and not isinstance(resume, bool) else None
    try:
        run_job(worker_factory(), key, resume=attempt, interruptible=True)
    except RunInterrupted as stop:
        _retry_later(self, stop.reason, job_id=str(key), resume=stop.attempt)
    except Exception as error:
        if not is_database_lost(error):
            raise
        _retry_later(self, database_problem(error), job_id=str(key), resume=attempt)


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
    The batch is claimed before its upload (only from a sendable state), so any number of
    workers may be asked at once."""
    outcomes = send_some_batches(factory, [batch_id], username)
    return outcomes[0] if outcomes else None


def send_some_batches(
    factory: sessionmaker[Session], batch_ids: list[uuid.UUID], username: str | None
) -> list[str]:
    """Send (or resolve) batches of one cycle as ``username``; their outcomes (none if nothing
    was done). Each batch is claimed before its upload, from a sendable state only."""
    from g2p_payment_phee.payments.config_service import load_manager

    with unit_of_work(factory) as session:
        batch = session.get(PaymentBatch, batch_ids[0])
        actor = _sender(session, username)
        if batch is None or actor is None:
            log.warning(
                "send of batches %s as %r: no such batch or user; dropped", batch_ids, username
            )
            return []
        cycle_id = batch.cycle_id
        manager = load_manager(session, batch.cycle.program)
        ours = set(
            session.scalars(
                select(PaymentBatch.id).where(
                    PaymentBatch.id.in_(batch_ids), PaymentBatch.cycle_id == cycle_id
                )
            )
        )
    if len(ours) < len(batch_ids):
        log.warning("send of batches %s: not all of one cycle; sending those that are", batch_ids)
    try:
        report = send_with_worker_client(
            factory, actor, manager, [i for i in batch_ids if i in ours]
        )
    except G2PError as error:
        log.warning("batches %s not sent: %s", batch_ids, error.message)
        return []
    return [result.outcome for result in report.results]


@app.task(name="g2p.send_batch", bind=True)
@_retry_when_database_lost
def send_batch_task(batch_id: str | None = None, username: str | None = None, **extra: Any) -> None:
    """Send one batch of a cycle being sent (a helper of a send_cycle job)."""
    _extra("g2p.send_batch", extra)
    key = _uuid("g2p.send_batch", batch_id)
    if key is not None:
        send_one_batch(worker_factory(), key, username)


@app.task(name="g2p.send_batches", bind=True)
@_retry_when_database_lost
def send_batches_task(
    batch_ids: list[str] | None = None, username: str | None = None, **extra: Any
) -> None:
    """Send a chunk of a cycle's batches (a helper of a send_cycle job)."""
    _extra("g2p.send_batches", extra)
    if not isinstance(batch_ids, list) or not batch_ids:
        log.warning("g2p.send_batches: %r is not a list of ids; message dropped", batch_ids)
        return
    keys = [key for key in (_uuid("g2p.send_batches", i) for i in batch_ids) if key is not None]
    if keys:
        send_some_batches(worker_factory(), keys, username)


@app.task(name="g2p.resolve_batch", bind=True)
@_retry_when_database_lost
def resolve_batch_task(
    batch_id: str | None = None, username: str | None = None, **extra: Any
) -> None:
    """Resolve a batch whose outcome is unknown: looked up at PHEE by its correlation id, and
    resent (same id, same file) only when PHEE provably does not have it."""
    _extra("g2p.resolve_batch", extra)
    key = _uuid("g2p.resolve_batch", batch_id)
    if key is not None:
        send_one_batch(worker_factory(), key, username)


@app.task(name="g2p.sync_batch", bind=True)
@_retry_when_database_lost
def sync_batch_task(batch_id: str | None = None, **extra: Any) -> None:
    """Sync one submitted batch."""
    _extra("g2p.sync_batch", extra)
    key = _uuid("g2p.sync_batch", batch_id)
    if key is not None:
        sync_some_batches(worker_factory(), [key], None)


@app.task(name="g2p.sync_batches", bind=True)
@_retry_when_database_lost
def sync_batches_task(
    batch_ids: list[str] | None = None, username: str | None = None, **extra: Any
) -> None:
    """Sync a chunk of a cycle's submitted batches (a helper of a sync_cycle job)."""
    _extra("g2p.sync_batches", extra)
    if not isinstance(batch_ids, list):
        log.warning("g2p.sync_batches: %r is not a list of ids; message dropped", batch_ids)
        return
    keys = [key for key in (_uuid("g2p.sync_batches", i) for i in batch_ids) if key is not None]
    if keys:
        sync_some_batches(worker_factory(), keys, username)


def sync_some_batches(
    factory: sessionmaker[Session], batch_ids: list[uuid.UUID], username: str | None
) -> int:
    """Sync those of the batches that are submitted, through their program's manager, as
    ``username`` (None, or a user that is gone: the product itself); how many were synced."""
    from g2p_payment_phee.payments.config_service import load_manager
    from g2p_payment_phee.programs.models import Cycle

    with unit_of_work(factory) as session:
        rows = session.execute(
            select(PaymentBatch.id, Cycle.program_id)
            .join(Cycle, Cycle.id == PaymentBatch.cycle_id)
            .where(PaymentBatch.id.in_(batch_ids), resend.syncable())
        ).tuples()
        by_program: dict[uuid.UUID, list[uuid.UUID]] = {}
        for batch_id, program_id in rows:
            by_program.setdefault(program_id, []).append(batch_id)
        work = []
        for ids in by_program.values():
            first = session.get(PaymentBatch, ids[0])
            assert first is not None
            work.append((load_manager(session, first.cycle.program), ids))
        actor = _sender(session, username)
    if not work:
        log.info("sync of batches %s: none is submitted; nothing to do", batch_ids[:3])
    for manager, ids in work:
        order = {batch_id: n for n, batch_id in enumerate(batch_ids)}
        manager.sync(factory, actor, sorted(ids, key=order.__getitem__))
    return sum(len(ids) for _, ids in work)


@app.task(name=SWEEP_TASK, bind=True)
@_retry_when_database_lost
def sweep_task(**extra: Any) -> None:
    """The periodic sweep (Celery beat)."""
    _extra(SWEEP_TASK, extra)
    sweep(worker_factory(), CeleryRunner())


@dataclass
class _OverdueSeen:
    """Overdue payments at this process's last sweep (beat runs the sweep in one process)."""

    payments: int = 0


_overdue_seen = _OverdueSeen()


def sweep(factory: sessionmaker[Session], runner: CeleryRunner) -> dict[str, int]:
    """Requeue dead or lost jobs; release lapsed ``sending`` claims (``outcome_unknown`` when
    their upload may have started) and resolve unknown outcomes (as the user who last sent
    their cycle; the quiet-period rule decides in the send); sync cycles with submitted batches
    or with uploads recent enough for a late duplicate at the hub. What it did, as counts."""
    from g2p_payment_phee.jobs.service import submit
    from g2p_payment_phee.jobs.sweep import sweep_jobs
    from g2p_payment_phee.payments.overdue import overdue_payments
    from g2p_payment_phee.payments.resend import release_lapsed_claims

    settings = get_settings()
    jobs = sweep_jobs(factory, runner)
    with unit_of_work(factory) as session:
        released = release_lapsed_claims(session, None)
        # A claim that lapsed before its upload started leaves its batch prepared: it was being
        # sent, so it is sent again (as the user who last sent its cycle), like the unknown ones.
        again = [(b.id, b.cycle_id) for b in released if b.state is BatchState.PREPARED]
    stale = len(released)
    resolved = _resolve_unknown(factory, runner, again)
    with unit_of_work(factory) as session:
        cycles = session.scalars(
            select(PaymentBatch.cycle_id).where(resend.syncable()).group_by(PaymentBatch.cycle_id)
        ).all()
        for cycle_id in cycles:  # joins the sync job already under way, if any
            submit(session, None, "sync_cycle", {"cycle_id": str(cycle_id)})
    counts = {"jobs": len(jobs), "stale_sending": stale, "resolving": resolved}
    counts["syncing_cycles"] = len(cycles)
    with unit_of_work(factory) as session:
        overdue = overdue_payments(session, None, older_than=settings.overdue_after)
    counts["overdue_payments"] = overdue.payments
    if overdue.payments:
        names = ", ".join(batch.name for batch in overdue.listed[:5])
        # A warning when more payments are overdue than at this process's last sweep; the
        # same news every minute after that is information (the count stays in ``counts``).
        grown = overdue.payments > _overdue_seen.payments
        level = logging.WARNING if grown else logging.INFO
        log.log(level, "%s Oldest batches: %s", overdue.describe(), names)
    _overdue_seen.payments = overdue.payments
    log.info("sweep: %s", counts)
    return counts


def _resolve_unknown(
    factory: sessionmaker[Session],
    runner: CeleryRunner,
    released: list[tuple[uuid.UUID, uuid.UUID]],
) -> int:
    with unit_of_work(factory) as session:
        unknown = released + list(
            session.execute(
                select(PaymentBatch.id, PaymentBatch.cycle_id)
                # within their quiet period a lookup could only find them, never resend them:
                # the sweep waits for its end (``send`` looks them up whenever it is asked)
                .where(PaymentBatch.state == BatchState.OUTCOME_UNKNOWN, resend.quiet_over())
                .order_by(PaymentBatch.sequence)
                .limit(SWEEP_BATCH_LIMIT)
            ).tuples()
        )
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
