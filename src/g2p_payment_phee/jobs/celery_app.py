"""Scale mode: the Celery app, its tasks and the runner that sends jobs to it.

Every task takes ids only, reloads its rows and is safe to deliver twice: a job is claimed
(queued → running) before it runs, a batch is claimed (→ sending) before it is uploaded, and a
batch in ``outcome_unknown`` is looked up at PHEE before anything is resent. Messages are
acknowledged late (after the task returns) and given back to the broker when a worker dies;
each worker takes one message at a time. The beat schedule runs ``g2p.sweep`` (``jobs.sweep``,
the same sweep the embedded server runs on a thread).

A message that names an id that no longer exists, or that comes from an older version (extra
or missing arguments), is logged and dropped: no harm is done.

When the database cannot be reached (refused, dropped, a deadlock), a task is retried later
with capped exponential backoff and jitter (``DATABASE_RETRIES`` times, then the sweep is the
backstop); a job's run that lost it mid-way is resumed by the retry (``tasks.RunInterrupted``).
The log names the driver's error only, never the SQL or its parameters. A send or sync job's
helpers are started best-effort: if the broker cannot take them, the job does the work itself.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Sequence
from functools import lru_cache, wraps
from typing import Any, NoReturn

from celery import Celery, Task
from celery.signals import worker_process_init
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import Settings, get_settings
from g2p_payment_phee.db import make_engine, make_session_factory, unit_of_work
from g2p_payment_phee.errors import G2PError, NotFound
from g2p_payment_phee.jobs.runner import install_runner
from g2p_payment_phee.jobs.sweep import sweep
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.service import get_user

log = logging.getLogger(__name__)
SWEEP_TASK = "g2p.sweep"
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


class CeleryRunner:
    """Sends committed jobs to the Celery workers (scale mode), and is their jobs' helpers
    (``background.Helpers``): a send or sync job asks every worker to take chunks."""

    def dispatch(self, job_id: uuid.UUID) -> None:
        """Queue ``g2p.run_job`` for the job (raises if the broker cannot be reached; the job
        stays queued and the sweep dispatches it again)."""
        run_job_task.delay(str(job_id))

    def start(self) -> None:
        """Nothing to start: the workers and beat are processes of their own."""

    def shutdown(self, wait: bool = True) -> None:
        """Nothing to stop here (the workers are other processes)."""

    def fan_out_send(self, chunks: Sequence[Sequence[uuid.UUID]], username: str) -> int:
        """Let every worker help send a cycle: one ``g2p.send_batches`` per chunk of batches.
        Best-effort (the job sends every batch itself too); how many helpers were queued."""
        messages = [(([str(i) for i in chunk], username), send_batches_task) for chunk in chunks]
        return _fan_out("send", messages)

    def fan_out_sync(self, chunks: Sequence[Sequence[uuid.UUID]], username: str | None) -> int:
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
    from g2p_payment_phee.jobs.engine import RunInterrupted, run_job

    _extra("g2p.run_job", extra)
    key = _uuid("g2p.run_job", job_id)
    if key is None:
        return
    attempt = resume if isinstance(resume, int) and not isinstance(resume, bool) else None
    try:
        run_job(worker_factory(), key, resume=attempt, interruptible=True, helpers=CeleryRunner())
    except RunInterrupted as stop:
        _retry_later(self, stop.reason, job_id=str(key), resume=stop.attempt)
    except Exception as error:
        if not is_database_lost(error):
            raise
        _retry_later(self, database_problem(error), job_id=str(key), resume=attempt)


def _helper_actor(factory: sessionmaker[Session], username: str | None) -> User | None:
    if not username:
        return None
    with unit_of_work(factory) as session:
        try:
            user = get_user(session, username)
        except NotFound:
            return None
        return user if user.active else None


def _ids(name: str, batch_ids: object) -> list[uuid.UUID]:
    if not isinstance(batch_ids, list) or not batch_ids:
        log.warning("%s: %r is not a list of ids; message dropped", name, batch_ids)
        return []
    return [key for key in (_uuid(name, i) for i in batch_ids) if key is not None]


@app.task(name="g2p.send_batches", bind=True)
@_retry_when_database_lost
def send_batches_task(
    batch_ids: list[str] | None = None, username: str | None = None, **extra: Any
) -> None:
    """Send a chunk of a cycle's batches as ``username`` (a helper of a send job): the same
    use case a send job calls (``payments.service.send_batches``)."""
    _extra("g2p.send_batches", extra)
    keys = _ids("g2p.send_batches", batch_ids)
    factory = worker_factory()
    actor = _helper_actor(factory, username)
    if not keys or actor is None:
        return
    try:
        payments.send_batches(factory, actor, keys)
    except G2PError as error:
        log.warning("batches %s not sent: %s", keys[:3], error.message)


@app.task(name="g2p.sync_batches", bind=True)
@_retry_when_database_lost
def sync_batches_task(
    batch_ids: list[str] | None = None, username: str | None = None, **extra: Any
) -> None:
    """Sync a chunk of a cycle's submitted batches (a helper of a sync job)."""
    _extra("g2p.sync_batches", extra)
    keys = _ids("g2p.sync_batches", batch_ids)
    if not keys:
        return
    factory = worker_factory()
    try:
        payments.sync_batches(factory, _helper_actor(factory, username), keys)
    except G2PError as error:  # e.g. the user lost the sending role: the job syncs them itself
        log.warning("batches %s not synced: %s", keys[:3], error.message)


@app.task(name=SWEEP_TASK, bind=True)
@_retry_when_database_lost
def sweep_task(**extra: Any) -> None:
    """The periodic sweep (Celery beat): ``jobs.sweep.sweep``, as the embedded server runs it."""
    _extra(SWEEP_TASK, extra)
    sweep(worker_factory(), CeleryRunner())
