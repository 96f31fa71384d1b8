"""The bodies of the payment jobs (prepare, retry failed, add to batches, send, sync) and
their parameters.

Each body calls the same use case the CLI and the API call (``payments.service``); it adds only
progress, the JSON result, and, for send and sync, chunks for helpers when the runner has any
(``background.Helpers``): helpers take chunks from the front while the job works from the back,
so a worker that dies holds up little, and nothing is sent twice (each batch is claimed before
its upload) or lost (the job goes over every batch itself).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.background import Work
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import unit_of_work, utcnow
from g2p_payment_phee.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import AmountFormat, format_amount
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.batching import check_batchable, check_max_size, waiting_count
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.prepare import PreparationReport, payable_count
from g2p_payment_phee.payments.reports import TROUBLE, SendOutcome, SendReport, SyncReport
from g2p_payment_phee.payments.resend import SENDABLE, syncable
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User

SEND_CHUNK = 5  # batches per helper message, and per step of a send job that has helpers
SYNC_CHUNK = 20
HELPER_POLL_SECONDS = 0.2
LISTED = 100

# --- parameters ------------------------------------------------------------------------------


def _uuid_param(params: dict[str, Any], name: str) -> uuid.UUID:
    value = params.get(name)
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError):
        reason = _("required") if value in (None, "") else _("not a valid id")
        raise ValidationFailed(
            _("invalid job parameters: {name}").format(name=name), [FieldError(name, reason)]
        ) from None


def _bool_param(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if not isinstance(value, bool):
        raise ValidationFailed(
            _("invalid job parameters: {name}").format(name=name),
            [FieldError(name, _("must be true or false"))],
        )
    return value


def _existing_cycle(session: Session, params: dict[str, Any]) -> uuid.UUID:
    cycle_id = _uuid_param(params, "cycle_id")
    if session.get(Cycle, cycle_id) is None:
        raise NotFound(_("no cycle {cycle_id}").format(cycle_id=cycle_id))
    return cycle_id


def cycle_params(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    """A job on a cycle: its id, checked."""
    return {"cycle_id": str(_existing_cycle(session, params))}


def prepare_params(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    """A preparation: the cycle, and whether it is a dry run."""
    cycle_id = _existing_cycle(session, params)
    return {"cycle_id": str(cycle_id), "dry_run": _bool_param(params, "dry_run")}


def send_params(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    """A send: the cycle, and all its sendable batches (None) or some of them."""
    cycle_id = _existing_cycle(session, params)
    raw = params.get("batch_ids")
    if raw is None:
        return {"cycle_id": str(cycle_id), "batch_ids": None}
    if not isinstance(raw, list | tuple) or not raw:
        raise ValidationFailed(
            _("invalid job parameters: batch_ids"),
            [FieldError("batch_ids", _("a non-empty list of batch ids, or nothing for all"))],
        )
    ids = sorted({str(_uuid_param({"batch_ids": item}, "batch_ids")) for item in raw})
    found = session.scalars(
        select(PaymentBatch.id).where(
            PaymentBatch.id.in_([uuid.UUID(i) for i in ids]), PaymentBatch.cycle_id == cycle_id
        )
    ).all()
    if len(found) != len(ids):
        raise NotFound(
            _("some of the batches are not batches of cycle {cycle_id}").format(cycle_id=cycle_id)
        )
    return {"cycle_id": str(cycle_id), "batch_ids": ids}


def batch_params(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    """A job on one batch: its id, checked."""
    batch_id = _uuid_param(params, "batch_id")
    if session.get(PaymentBatch, batch_id) is None:
        raise NotFound(_("no payment batch {batch_id}").format(batch_id=batch_id))
    return {"batch_id": str(batch_id)}


def send_key(params: dict[str, Any]) -> str:
    """A send of all of a cycle's batches, or of a given set, is one piece of work."""
    if params["batch_ids"] is None:
        return f"send_cycle:{params['cycle_id']}"
    digest = hashlib.sha256(",".join(params["batch_ids"]).encode()).hexdigest()[:16]
    return f"send_cycle:{params['cycle_id']}:{digest}"


# --- prepare ---------------------------------------------------------------------------------


def _cycle(session: Session, cycle_id: uuid.UUID) -> Cycle:
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound(_("no cycle {cycle_id}").format(cycle_id=cycle_id))
    return cycle


def _need_actor(work: Work) -> User:
    if work.actor is None:
        raise PermissionDenied(_("a {kind} job needs a user").format(kind=work.kind))
    return work.actor


def prepare_cycle(work: Work, *, retry: bool = False) -> dict[str, Any]:
    """Prepare a cycle's payments (``retry``: new payments for its failed ones)."""
    actor = _need_actor(work)
    dry_run = bool(work.params.get("dry_run", False))
    with unit_of_work(work.factory) as session:
        cycle = _cycle(session, work.uuid("cycle_id"))
        work.progress(0, payable_count(session, cycle), "preparing payments", flush=True)
    with unit_of_work(work.factory) as session:
        cycle = _cycle(session, work.uuid("cycle_id"))
        run = service.retry_failed if retry else service.prepare_cycle
        report = run(session, actor, cycle, dry_run=dry_run, progress=work.progress)
    return preparation_result(report)


def retry_failed(work: Work) -> dict[str, Any]:
    """New payments, in new batches, for a cycle's failed ones."""
    return prepare_cycle(work, retry=True)


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
        "message": report.message
        or _("{created} payments in {batches} batches").format(
            created=report.created, batches=report.batches
        ),
    }


def batching_params(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    """Adding payments to batches: the cycle, and the payments per batch (None: the
    manager's)."""
    cycle_id = _existing_cycle(session, params)
    max_size = params.get("max_size")
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)):
        raise ValidationFailed(
            _("invalid job parameters: max_size"), [FieldError("max_size", _("a whole number"))]
        )
    check_max_size(max_size)
    check_batchable(session, _cycle(session, cycle_id))
    return {"cycle_id": str(cycle_id), "max_size": max_size}


def add_to_batches(work: Work) -> dict[str, Any]:
    """Put a cycle's payments issued without a batch into new batches."""
    actor = _need_actor(work)
    with unit_of_work(work.factory) as session:
        cycle = _cycle(session, work.uuid("cycle_id"))
        work.progress(0, waiting_count(session, cycle), "adding payments to batches", flush=True)
    with unit_of_work(work.factory) as session:
        cycle = _cycle(session, work.uuid("cycle_id"))
        report = service.add_to_batches(
            session, actor, cycle, max_size=work.params.get("max_size"), progress=work.progress
        )
    return {
        "cycle": report.cycle,
        "batched": report.batched,
        "batches": len(report.batches),
        "file_bytes": report.file_bytes,
        "amounts": {
            c: format_amount(a, c, AmountFormat.DECIMAL) for c, a in report.amounts.items()
        },
        "message": _("{batched} payments in {count} new batches").format(
            batched=report.batched, count=len(report.batches)
        ),
    }


# --- send ------------------------------------------------------------------------------------


def send_cycle(work: Work) -> dict[str, Any]:
    """Send a cycle's sendable batches (all, or those named), with helpers when there are."""
    actor = _need_actor(work)
    cycle_id = work.uuid("cycle_id")
    with unit_of_work(work.factory) as session:
        ids = service.sendable_batches(session, actor, cycle_id)
    wanted = work.params.get("batch_ids")
    asked = None if wanted is None else [uuid.UUID(i) for i in wanted]
    if asked is not None:
        ids = [i for i in ids if i in set(asked)]
    work.progress(0, len(ids), f"sending {len(ids)} batches", flush=True)
    chunks = [ids[i : i + SEND_CHUNK] for i in range(0, len(ids), SEND_CHUNK)]
    if len(ids) > 1 and work.helpers.fan_out_send(chunks, actor.username):
        report = _send_alongside_helpers(work, actor, ids)
        patience = 2.0 * get_settings().send_lease_seconds
        return send_result(report, _after_helpers(work, ids, patience), total=len(ids))

    def told(done: int, total: int) -> None:
        work.progress(done, message=_("{done} of {total} batches").format(done=done, total=total))

    # the batches asked for that are not to be sent come back as skipped, with the reason
    report = service.send_cycle(work.factory, actor, cycle_id, asked or ids, progress=told)
    return send_result(report, _batch_states(work.factory, ids))


def _send_alongside_helpers(work: Work, actor: User, ids: list[uuid.UUID]) -> SendReport:
    """Send from the back, SEND_CHUNK batches at a time, while helpers send from the front
    (a bigger step would claim batches a free helper could have sent at the end). Once a claim
    finds a batch taken, the rest is narrowed to what nobody has claimed yet, in one read."""
    report = SendReport()
    todo, passed = ids[::-1], 0
    while todo:
        chunk, todo = todo[:SEND_CHUNK], todo[SEND_CHUNK:]
        results = service.send_batches(work.factory, actor, chunk).results
        report.results.extend(results)
        passed += len(chunk)
        if todo and any(result.outcome is SendOutcome.SKIPPED for result in results):
            still = _still_sendable(work.factory, todo)
            passed, todo = passed + len(todo) - len(still), still
        work.progress(
            passed, message=_("{passed} of {count} batches").format(passed=passed, count=len(ids))
        )
    return report


def _after_helpers(work: Work, ids: list[uuid.UUID], patience: float) -> dict[str, int]:
    """The batches' states once no helper is still sending one of them (or ``patience``
    seconds have passed: a helper that died leaves its batch to the sweep)."""
    deadline = time.monotonic() + patience
    pause = threading.Event()
    while True:
        states_now = _batch_states(work.factory, ids)
        sending = states_now.get(BatchState.SENDING.value, 0)
        if not sending or time.monotonic() >= deadline:
            return states_now
        work.progress(
            len(ids) - sending,
            message=_("{sending} batches being sent by other workers").format(sending=sending),
        )
        pause.wait(HELPER_POLL_SECONDS)


def _still_sendable(factory: sessionmaker[Session], ids: list[uuid.UUID]) -> list[uuid.UUID]:
    with unit_of_work(factory) as session:
        open_ids = set(
            session.scalars(
                select(PaymentBatch.id).where(
                    PaymentBatch.id.in_(ids), PaymentBatch.state.in_(SENDABLE)
                )
            )
        )
    return [batch_id for batch_id in ids if batch_id in open_ids]


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
    trouble = [r for r in report.results if r.outcome in TROUBLE]
    total = len(report.results) if total is None else total
    done = sum(states_now.get(s, 0) for s in ("submitted", "completed"))
    return {
        "batches": total,
        "outcomes": outcomes,
        "states": states_now,
        "problems": [
            {"batch": r.batch, "outcome": r.outcome, "message": r.message} for r in trouble[:LISTED]
        ],
        "message": _("{done} of {total} batches submitted").format(done=done, total=total),
    }


# --- sync ------------------------------------------------------------------------------------


def sync_cycle(work: Work) -> dict[str, Any]:
    """Sync a cycle's submitted batches, with helpers when there are. Syncing a batch twice
    is harmless (final payments never move; an unchanged summary is not read further)."""
    with unit_of_work(work.factory) as session:
        cycle = _cycle(session, work.uuid("cycle_id"))
        ids = list(
            session.scalars(
                select(PaymentBatch.id)
                .where(PaymentBatch.cycle_id == cycle.id, syncable())
                .order_by(PaymentBatch.sequence)
            )
        )
    username = work.actor.username if work.actor is not None else None
    chunks = [ids[i : i + SYNC_CHUNK] for i in range(0, len(ids), SYNC_CHUNK)]
    helped = work.helpers.fan_out_sync(chunks, username) if len(ids) > SYNC_CHUNK else 0
    if helped:
        ids = ids[::-1]
    work.progress(0, len(ids), f"syncing {len(ids)} batches", flush=True)
    result = sync_result(_sync(work, ids), _processing(work.factory, ids))
    if helped:
        result.update(helpers=helped, states=_batch_states(work.factory, ids))
    return result


def sync_batch(work: Work) -> dict[str, Any]:
    """Sync one batch (after PHEE's callback for it)."""
    batch_id = work.uuid("batch_id")
    with unit_of_work(work.factory) as session:
        batch = session.get(PaymentBatch, batch_id)
        if batch is None:
            raise NotFound(_("no payment batch {batch_id}").format(batch_id=batch_id))
        state = batch.state
    if state is not BatchState.SUBMITTED:
        return {
            **sync_result(SyncReport()),
            "message": _("batch is {state}: nothing to sync").format(state=state),
        }
    work.progress(0, 1, "syncing 1 batch", flush=True)
    return sync_result(_sync(work, [batch_id]), _processing(work.factory, [batch_id]))


def _sync(work: Work, ids: Sequence[uuid.UUID]) -> SyncReport:
    def told(done: int, total: int) -> None:
        work.progress(
            done, message=_("synced {done} of {total} batches").format(done=done, total=total)
        )

    return service.sync_batches(work.factory, work.actor, ids, progress=told)


def _processing(factory: sessionmaker[Session], ids: Sequence[uuid.UUID]) -> int:
    """Payments of these batches the hub holds with no final outcome yet."""
    with unit_of_work(factory) as session:
        left = PaymentBatch.issued_count - PaymentBatch.paid_count - PaymentBatch.failed_count
        total = session.scalar(
            select(func.coalesce(func.sum(left), 0)).where(
                PaymentBatch.id.in_(ids), PaymentBatch.state == BatchState.SUBMITTED
            )
        )
        return int(total or 0)


def sync_result(report: SyncReport, processing: int = 0) -> dict[str, Any]:
    """A sync report as JSON: payments reconciled, batches completed, errors, and the payments
    the hub is still processing (``processing``: read after the sync). A sync that made nothing
    final says when the sweep looks again, so nobody takes it for a stuck hub."""
    errors = [{"batch": r.batch, "error": r.error} for r in report.results if r.error]
    paid = sum(r.paid for r in report.results)
    failed = sum(r.failed for r in report.results)
    message = _("{paid} paid, {failed} failed in {count} batches").format(
        paid=paid, failed=failed, count=len(report.results)
    )
    if processing and not (paid or failed or errors):
        every = get_settings().sweep_seconds
        next_at = (utcnow() + timedelta(seconds=every)).strftime("%H:%M UTC")
        message = _(
            "nothing final yet: the hub is still processing {processing} payments; "
            "the sweep looks again every {every} seconds (next around {next_at})"
        ).format(processing=processing, every=every, next_at=next_at)
    return {
        "batches": len(report.results),
        "completed": sum(1 for r in report.results if r.completed),
        "paid": paid,
        "failed": failed,
        "processing": processing,
        "errors": errors[:LISTED],
        "message": message,
    }
