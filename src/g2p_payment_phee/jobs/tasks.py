"""Task functions, one per job kind; the same code runs in-process and in Celery workers.

Every task takes the job's id and goes through ``run_job``: reload the job, *claim* it
(queued → running, a conditional update: a job already running elsewhere or final is not run
again), reload its user (the job runs with the rights of the person who started it), run the
kind's body with a ``JobContext``, then record the result (JSON counts) or the error. While it
runs, a monitor thread writes the heartbeat and the latest progress in short transactions of
their own; a run whose heartbeat stops (its process died) is requeued by the sweep.

A run that loses its database (connection refused or dropped, ``is_database_lost``) is not
recorded as failed when its runner can retry (``interruptible``, the Celery workers): it
raises ``RunInterrupted`` with its attempt, and the retry hands that attempt back (running →
queued, fenced by the attempt) and claims the job again. Every body is safe to run again: a
batch claimed before the loss stays ``sending`` until it is looked up at PHEE.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.db import database_problem, is_database_lost, unit_of_work
from g2p_payment_phee.errors import G2PError, NotFound, PermissionDenied
from g2p_payment_phee.import_jobs.kinds import ImportKind
from g2p_payment_phee.import_jobs.tasks import run_import
from g2p_payment_phee.jobs import states
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.jobs.runner import installed_runner
from g2p_payment_phee.jobs.service import SYSTEM
from g2p_payment_phee.money import AmountFormat, format_amount
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.config_service import load_manager
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.prepare import PreparationReport, payable_count
from g2p_payment_phee.payments.reports import SendReport, SyncReport
from g2p_payment_phee.payments.resend import syncable
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.service import get_user

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10.0
PROGRESS_SECONDS = 1.0
SEND_FAN_OUT = 5  # batches per helper message, and per step of a send job that has helpers
HELPER_GRACE_SECONDS = 5.0  # a send job waits this long past two upload timeouts for helpers
HELPER_POLL_SECONDS = 0.2
SYNC_CHUNK = 20
LISTED = 100
UNEXPECTED = "the job failed unexpectedly; the error is in the worker's log"


class RunInterrupted(Exception):
    """A claimed run lost its database; retry with ``attempt`` to hand it back and run again."""

    def __init__(self, job_id: uuid.UUID, attempt: int, reason: str) -> None:
        super().__init__(f"job {job_id} attempt {attempt} interrupted: {reason}")
        self.job_id = job_id
        self.attempt = attempt
        self.reason = reason


@dataclass
class JobContext:
    """What a running job's body gets: its rows' ids, its user and a progress reporter."""

    factory: sessionmaker[Session]
    job_id: uuid.UUID
    attempt: int
    kind: str
    params: dict[str, Any]
    actor: User | None
    _progress: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Event = field(default_factory=threading.Event)

    def progress(
        self,
        done: int,
        total: int | None = None,
        message: str | None = None,
        *,
        flush: bool = False,
    ) -> None:
        """Record progress; written by the monitor within a second (now, with ``flush``)."""
        with self._lock:
            self._progress.update(done=done)
            if total is not None:
                self._progress["total"] = total
            if message is not None:
                self._progress["message"] = message
        if flush:
            self.write_progress()
        else:
            self._changed.set()

    def write_progress(self) -> bool:
        """Write the heartbeat and the latest progress in a transaction of its own."""
        with self._lock:
            latest = dict(self._progress)
            self._changed.clear()
        with unit_of_work(self.factory) as session:
            return states.report(session, self.job_id, self.attempt, **latest)

    def uuid(self, name: str) -> uuid.UUID:
        """A parameter as a UUID."""
        return uuid.UUID(str(self.params[name]))


Body = Callable[[JobContext], dict[str, Any]]


class _Monitor:
    """Writes the heartbeat every HEARTBEAT_SECONDS and fresh progress every PROGRESS_SECONDS."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"g2p-job-{ctx.job_id}", daemon=True)

    def __enter__(self) -> _Monitor:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.ctx._changed.set()
        self.thread.join(timeout=HEARTBEAT_SECONDS * 3)

    def _loop(self) -> None:
        last = time.monotonic()
        while not self.stop.is_set():
            changed = self.ctx._changed.wait(PROGRESS_SECONDS)
            if self.stop.is_set():
                return
            if changed or time.monotonic() - last >= HEARTBEAT_SECONDS:
                self._write()
                last = time.monotonic()
                if changed:  # at most one progress write per PROGRESS_SECONDS
                    self.stop.wait(PROGRESS_SECONDS)

    def _write(self) -> None:
        try:
            self.ctx.write_progress()
        except OperationalError as error:  # e.g. SQLite's write lock held by the job itself
            log.debug("job %s: progress not written now: %s", self.ctx.job_id, error)
        except Exception:
            log.exception("job %s: progress not written", self.ctx.job_id)


def run_job(
    factory: sessionmaker[Session],
    job_id: uuid.UUID,
    kind: str | None = None,
    *,
    resume: int | None = None,
    interruptible: bool = False,
) -> JobState | None:
    """Run the job if it is queued (claiming it first); its final state, or None if this call
    did not run it (gone, final, running elsewhere, or not of ``kind``).

    ``interruptible``: losing the database raises ``RunInterrupted`` instead of failing the
    job; ``resume`` is the attempt such a run had, handed back here before claiming again."""
    with unit_of_work(factory) as session:
        if resume is not None and states.requeue_interrupted(session, job_id, resume):
            log.info("job %s attempt %d was interrupted: running it again", job_id, resume)
        job = session.get(Job, job_id)
        if job is None:
            log.warning("job %s does not exist (deleted, or another database): ignored", job_id)
            return None
        if kind is not None and job.kind != kind:
            log.warning("job %s is a %s job, not %s: ignored", job_id, job.kind, kind)
            return None
        if job.state is not JobState.QUEUED:
            log.info("job %s is %s: not run again", job_id, job.state)
            return None
        body = BODIES.get(job.kind)
        actor, problem = _job_actor(session, job)
        if body is None or problem is not None:
            states.fail_unrunnable(session, job, problem or f"unknown job kind {job.kind!r}")
            return JobState.FAILED
        attempt = states.claim(session, job_id)
        if attempt is None:
            log.info("job %s was claimed by another worker", job_id)
            return None
        ctx = JobContext(factory, job_id, attempt, job.kind, dict(job.params), actor)
    try:
        return _run_claimed(ctx, job, body, interruptible=interruptible)
    except Exception as error:
        if not (interruptible and is_database_lost(error)):
            raise
        reason = database_problem(error)
        log.warning(
            "job %s (%s) attempt %d lost the database (%s); it will be resumed",
            job_id,
            ctx.kind,
            attempt,
            reason,
        )
        raise RunInterrupted(job_id, attempt, reason) from None


def _job_actor(session: Session, job: Job) -> tuple[User | None, str | None]:
    if job.created_by == SYSTEM:
        return None, None
    try:
        user = get_user(session, job.created_by)
    except NotFound:
        return None, f"user {job.created_by!r} who started the job no longer exists"
    if not user.active:
        return None, f"user {user.username!r} who started the job is disabled"
    return user, None


def _run_claimed(ctx: JobContext, job: Job, body: Body, *, interruptible: bool) -> JobState:
    log.info("job %s (%s) attempt %d started", ctx.job_id, ctx.kind, ctx.attempt)
    try:
        with _Monitor(ctx):
            result = body(ctx)
    except G2PError as error:
        log.warning("job %s (%s) failed: %s", ctx.job_id, ctx.kind, error.message)
        return _finish(ctx, job, JobState.FAILED, error=error.message, message="failed")
    except Exception as error:
        if interruptible and is_database_lost(error):
            raise
        log.exception("job %s (%s) failed unexpectedly", ctx.job_id, ctx.kind)
        return _finish(ctx, job, JobState.FAILED, error=UNEXPECTED, message="failed")
    message = str(result.get("message") or "done")
    return _finish(ctx, job, JobState.SUCCEEDED, result=result, message=message)


def _finish(ctx: JobContext, job: Job, state: JobState, **values: Any) -> JobState:
    with ctx._lock:
        latest = dict(ctx._progress)
    with unit_of_work(ctx.factory) as session:
        if latest:
            states.report(session, ctx.job_id, ctx.attempt, **latest)
        if not states.finish(session, ctx.actor, job, ctx.attempt, state, **values):
            log.warning(
                "job %s attempt %d lost its claim; its outcome is not recorded", job.id, ctx.attempt
            )
    log.info("job %s (%s) %s", ctx.job_id, ctx.kind, state)
    return state


# --- the kinds -------------------------------------------------------------------------------


def _cycle(session: Session, cycle_id: uuid.UUID) -> Cycle:
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound(f"no cycle {cycle_id}")
    return cycle


def _need_actor(ctx: JobContext) -> User:
    if ctx.actor is None:
        raise PermissionDenied(f"a {ctx.kind} job needs a user")
    return ctx.actor


def _prepare(ctx: JobContext, *, retry: bool) -> dict[str, Any]:
    actor = _need_actor(ctx)
    dry_run = bool(ctx.params.get("dry_run", False))
    with unit_of_work(ctx.factory) as session:
        cycle = _cycle(session, ctx.uuid("cycle_id"))
        ctx.progress(0, payable_count(session, cycle), "preparing payments", flush=True)
    with unit_of_work(ctx.factory) as session:
        cycle = _cycle(session, ctx.uuid("cycle_id"))
        run = payments.retry_failed if retry else payments.prepare_cycle
        report = run(session, actor, cycle, dry_run=dry_run, progress=ctx.progress)
    return preparation_result(report)


def preparation_result(report: PreparationReport) -> dict[str, Any]:
    """A preparation report as JSON (amounts as text, at most LISTED skipped entitlements)."""
    return {
        "cycle": report.cycle,
        "dry_run": report.dry_run,
        "created": report.created,
        "batches": report.batches,
        "file_bytes": report.file_bytes,
        "already_paid": report.already_paid,
        "skipped_count": report.skipped_count,
        "skipped": [
            {"code": s.code, "reference": s.reference, "reason": s.reason}
            for s in report.skipped[:LISTED]
        ],
        "totals": {
            currency: {
                "count": t.count,
                "amount": format_amount(t.amount, currency, AmountFormat.DECIMAL),
                "fees": format_amount(t.fees, currency, AmountFormat.DECIMAL),
            }
            for currency, t in report.totals.items()
        },
        "message": report.message or f"{report.created} payments in {report.batches} batches",
    }


def prepare_cycle(factory: sessionmaker[Session], job_id: uuid.UUID) -> JobState | None:
    """Prepare a cycle's payments (``params``: cycle_id, dry_run)."""
    return run_job(factory, job_id, "prepare_cycle")


def retry_failed(factory: sessionmaker[Session], job_id: uuid.UUID) -> JobState | None:
    """New payments for a cycle's failed ones (``params``: cycle_id)."""
    return run_job(factory, job_id, "retry_failed")


def _send(ctx: JobContext) -> dict[str, Any]:
    actor = _need_actor(ctx)
    cycle_id = ctx.uuid("cycle_id")
    with unit_of_work(ctx.factory) as session:
        ids = payments.sendable_batches(session, actor, cycle_id)
        manager = load_manager(session, _cycle(session, cycle_id).program)
    wanted = ctx.params.get("batch_ids")
    if wanted is not None:
        chosen = {uuid.UUID(i) for i in wanted}
        ids = [i for i in ids if i in chosen]
    runner = installed_runner(ctx.factory)
    fan_out = getattr(runner, "fan_out_send", None)
    ctx.progress(0, len(ids), f"sending {len(ids)} batches", flush=True)
    if fan_out is not None and len(ids) > 1:
        chunks = [ids[i : i + SEND_FAN_OUT] for i in range(0, len(ids), SEND_FAN_OUT)]
        if fan_out(chunks, actor.username):
            kept = getattr(runner, "send_batches", None)
            send = manager.send if kept is None else partial(_send_through, kept, manager)
            report = _send_alongside_helpers(ctx, actor, send, ids)
            settings = getattr(manager, "settings", None)
            timeout = float(getattr(settings, "batch_request_timeout", 10))
            states_now = _after_helpers(ctx, ids, timeout * 2 + HELPER_GRACE_SECONDS)
            return send_result(report, states_now, total=len(ids))
    report = manager.send(ctx.factory, actor, ids, progress=partial(_told, ctx, len(ids), ""))
    return send_result(report, _batch_states(ctx.factory, ids))


def _told(ctx: JobContext, total: int, verb: str, done: int) -> None:
    """A manager's progress as the job's: done of total batches."""
    ctx.progress(done, message=f"{verb}{done} of {total} batches")


def _send_alongside_helpers(
    ctx: JobContext,
    actor: User,
    send: Callable[[sessionmaker[Session], User, list[uuid.UUID]], SendReport],
    ids: list[uuid.UUID],
) -> SendReport:
    """Send from the back, SEND_FAN_OUT batches at a time, while helpers send from the front
    (a bigger step would claim batches a free helper could have sent at the end). Each batch
    is claimed before its upload, so none is sent twice; once a claim finds a batch taken, the
    rest is narrowed to what nobody has claimed yet, in one read."""
    report = SendReport()
    todo, passed = ids[::-1], 0
    while todo:
        chunk, todo = todo[:SEND_FAN_OUT], todo[SEND_FAN_OUT:]
        results = send(ctx.factory, actor, chunk).results
        report.results.extend(results)
        passed += len(chunk)
        if todo and any(result.outcome == "skipped" for result in results):
            still = _still_sendable(ctx.factory, todo)
            passed, todo = passed + len(todo) - len(still), still
        ctx.progress(passed, message=f"{passed} of {len(ids)} batches")
    return report


def _after_helpers(ctx: JobContext, ids: list[uuid.UUID], patience: float) -> dict[str, int]:
    """The batches' states once no helper is still sending one of them (or ``patience``
    seconds have passed: a helper that died leaves its batch to the sweep)."""
    deadline = time.monotonic() + patience
    pause = threading.Event()
    while True:
        states_now = _batch_states(ctx.factory, ids)
        sending = states_now.get(BatchState.SENDING.value, 0)
        if not sending or time.monotonic() >= deadline:
            return states_now
        ctx.progress(len(ids) - sending, message=f"{sending} batches being sent by other workers")
        pause.wait(HELPER_POLL_SECONDS)


def _still_sendable(factory: sessionmaker[Session], ids: list[uuid.UUID]) -> list[uuid.UUID]:
    from g2p_payment_phee.payments.resend import SENDABLE

    with unit_of_work(factory) as session:
        open_ids = set(
            session.scalars(
                select(PaymentBatch.id).where(
                    PaymentBatch.id.in_(ids), PaymentBatch.state.in_(SENDABLE)
                )
            )
        )
    return [batch_id for batch_id in ids if batch_id in open_ids]


def _send_through(
    kept: Callable[..., SendReport],
    manager: Any,
    factory: sessionmaker[Session],
    actor: User,
    ids: list[uuid.UUID],
) -> SendReport:
    return kept(factory, actor, manager, ids)


def _batch_states(factory: sessionmaker[Session], ids: Sequence[uuid.UUID]) -> dict[str, int]:
    with unit_of_work(factory) as session:
        rows = session.execute(
            select(PaymentBatch.state, func.count())
            .where(PaymentBatch.id.in_(ids))
            .group_by(PaymentBatch.state)
        ).tuples()
        return {state.value: int(count) for state, count in rows}


def send_result(
    report: SendReport, states_now: dict[str, int], *, total: int | None = None
) -> dict[str, Any]:
    """A send report as JSON: this run's outcomes, where the batches stand now (others may have
    sent some), and the batches that did not go through; ``total``: the batches it covered
    (default: one per result)."""
    outcomes: dict[str, int] = {}
    for r in report.results:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    trouble = [r for r in report.results if r.outcome in {"rejected", "outcome_unknown"}]
    total = len(report.results) if total is None else total
    done = sum(states_now.get(s, 0) for s in ("submitted", "completed"))
    return {
        "batches": total,
        "outcomes": outcomes,
        "states": states_now,
        "problems": [
            {"batch": r.batch, "outcome": r.outcome, "message": r.message} for r in trouble[:LISTED]
        ],
        "message": f"{done} of {total} batches submitted",
    }


def send_cycle(factory: sessionmaker[Session], job_id: uuid.UUID) -> JobState | None:
    """Send a cycle's sendable batches (``params``: cycle_id, batch_ids or None)."""
    return run_job(factory, job_id, "send_cycle")


def _sync_ids(ctx: JobContext, batch_ids: Sequence[uuid.UUID]) -> SyncReport:
    if not batch_ids:
        return SyncReport()
    with unit_of_work(ctx.factory) as session:
        first = session.get(PaymentBatch, batch_ids[0])
        if first is None:
            raise NotFound(f"no payment batch {batch_ids[0]}")
        manager = load_manager(session, first.cycle.program)
    told = partial(_told, ctx, len(batch_ids), "synced ")
    return manager.sync(ctx.factory, ctx.actor, batch_ids, progress=told)


def _sync_cycle(ctx: JobContext) -> dict[str, Any]:
    with unit_of_work(ctx.factory) as session:
        cycle = _cycle(session, ctx.uuid("cycle_id"))
        ids = list(
            session.scalars(
                select(PaymentBatch.id)
                .where(PaymentBatch.cycle_id == cycle.id, syncable())
                .order_by(PaymentBatch.sequence)
            )
        )
    fan_out = getattr(installed_runner(ctx.factory), "fan_out_sync", None)
    helped = 0
    if fan_out is not None and len(ids) > SYNC_CHUNK:
        # As send does: other workers take chunks from the front while this one works from
        # the back, so a killed worker holds up little. Syncing a batch twice is harmless
        # (final payments never move; an unchanged summary is not read further).
        chunks = [ids[i : i + SYNC_CHUNK] for i in range(0, len(ids), SYNC_CHUNK)]
        helped = fan_out(chunks, ctx.actor.username if ctx.actor is not None else None)
        ids = ids[::-1]
    ctx.progress(0, len(ids), f"syncing {len(ids)} batches", flush=True)
    result = sync_result(_sync_ids(ctx, ids))
    if helped:
        result.update(helpers=helped, states=_batch_states(ctx.factory, ids))
    return result


def _sync_batch(ctx: JobContext) -> dict[str, Any]:
    batch_id = ctx.uuid("batch_id")
    with unit_of_work(ctx.factory) as session:
        batch = session.get(PaymentBatch, batch_id)
        if batch is None:
            raise NotFound(f"no payment batch {batch_id}")
        state = batch.state
    if state is not BatchState.SUBMITTED:
        return {**sync_result(SyncReport()), "message": f"batch is {state}: nothing to sync"}
    ctx.progress(0, 1, "syncing 1 batch", flush=True)
    return sync_result(_sync_ids(ctx, [batch_id]))


def sync_result(report: SyncReport) -> dict[str, Any]:
    """A sync report as JSON: payments reconciled, batches completed, errors."""
    errors = [{"batch": r.batch, "error": r.error} for r in report.results if r.error]
    paid = sum(r.paid for r in report.results)
    failed = sum(r.failed for r in report.results)
    return {
        "batches": len(report.results),
        "completed": sum(1 for r in report.results if r.completed),
        "paid": paid,
        "failed": failed,
        "errors": errors[:LISTED],
        "message": f"{paid} paid, {failed} failed in {len(report.results)} batches",
    }


def sync_cycle(factory: sessionmaker[Session], job_id: uuid.UUID) -> JobState | None:
    """Sync a cycle's submitted batches (``params``: cycle_id)."""
    return run_job(factory, job_id, "sync_cycle")


def sync_batch(factory: sessionmaker[Session], job_id: uuid.UUID) -> JobState | None:
    """Sync one batch, after PHEE's callback for it (``params``: batch_id)."""
    return run_job(factory, job_id, "sync_batch")


BODIES: dict[str, Body] = {
    "prepare_cycle": lambda ctx: _prepare(ctx, retry=False),
    "retry_failed": lambda ctx: _prepare(ctx, retry=True),
    "send_cycle": _send,
    "sync_cycle": _sync_cycle,
    "sync_batch": _sync_batch,
    "import_registrants": partial(run_import, ImportKind.REGISTRANTS),
    "import_entitlements": partial(run_import, ImportKind.ENTITLEMENTS),
}
TASKS: dict[str, Callable[[sessionmaker[Session], uuid.UUID], JobState | None]] = {
    "prepare_cycle": prepare_cycle,
    "retry_failed": retry_failed,
    "send_cycle": send_cycle,
    "sync_cycle": sync_cycle,
    "sync_batch": sync_batch,
}
