"""Payments use cases: prepare a cycle, retry its failed payments, list and read batches.

Entry points (CLI, API, pages, jobs) call these; the program's configured payment manager does
the manager-specific part.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker, undefer

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.errors import BusinessRuleViolation, NotFound
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments import batching
from g2p_payment_phee.payments.batching import BatchingReport, check_max_size
from g2p_payment_phee.payments.config_service import load_manager
from g2p_payment_phee.payments.duplicates import refuse_unacknowledged
from g2p_payment_phee.payments.files import RenderedFile, render_stored_batch
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.outcomes import CycleOutcomes, Outcome, cycle_outcomes
from g2p_payment_phee.payments.prepare import PreparationReport, payable_count
from g2p_payment_phee.payments.reports import BatchSendResult, SendOutcome, SendReport, SyncReport
from g2p_payment_phee.payments.resend import SENDABLE, release_lapsed_claims, syncable, why_waiting
from g2p_payment_phee.payments.states import BatchState, PaymentState, PaymentStatus
from g2p_payment_phee.programs.models import Cycle, Program
from g2p_payment_phee.programs.states import CycleState, set_cycle_state
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

Progress = Callable[[int], None]


def prepare_cycle(
    session: Session,
    actor: User,
    cycle: Cycle,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> PreparationReport:
    """prepare_payments through the program's manager (SPEC 3.2)."""
    authorize(actor, Permission.PREPARE_PAYMENTS)
    manager = load_manager(session, cycle.program)
    return manager.prepare(session, actor, cycle, dry_run=dry_run, progress=progress)


def retry_failed(
    session: Session,
    actor: User,
    cycle: Cycle,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> PreparationReport:
    """New payments (new UUIDs, new batches) for entitlements whose every payment failed."""
    authorize(actor, Permission.PREPARE_PAYMENTS)
    # A payment recorded failed may have been paid by a duplicate batch at the hub.
    refuse_unacknowledged(session, cycle)
    manager = load_manager(session, cycle.program)
    report = manager.prepare(
        session, actor, cycle, dry_run=dry_run, progress=progress, only_failed=True
    )
    if report.created == 0 and not report.skipped_count:
        report.message = _("nothing to retry: no entitlement has only failed payments")
    return report


def add_to_batches(
    session: Session,
    actor: User,
    cycle: Cycle,
    *,
    max_size: int | None = None,
    progress: Progress | None = None,
) -> BatchingReport:
    """Put the cycle's payments issued without a batch into new batches, with the program's
    manager's file format and limits (``max_size``: payments per batch, else the manager's)."""
    authorize(actor, Permission.PREPARE_PAYMENTS)
    check_max_size(max_size)
    manager = load_manager(session, cycle.program)
    spec = manager.prepare_spec(session, cycle)
    return batching.add_to_batches(
        session, actor, cycle, spec, max_size=max_size, progress=progress
    )


def get_batch(session: Session, actor: User, name_or_id: str) -> PaymentBatch:
    """A batch by its name (UUID text), id or correlation id."""
    authorize(actor, Permission.VIEW)
    query = select(PaymentBatch).where(
        (PaymentBatch.name == name_or_id) | (PaymentBatch.correlation_id == name_or_id)
    )
    batch = session.scalar(query)
    if batch is None:
        try:
            batch = session.get(PaymentBatch, uuid.UUID(name_or_id))
        except ValueError:
            batch = None
    if batch is None:
        raise NotFound(_("no payment batch {name_or_id!r}").format(name_or_id=name_or_id))
    return batch


def list_batches(
    session: Session,
    actor: User,
    cycle: Cycle,
    *,
    state: BatchState | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[PaymentBatch]:
    """A page of the cycle's batches in sequence order."""
    authorize(actor, Permission.VIEW)
    query = select(PaymentBatch).where(PaymentBatch.cycle_id == cycle.id)
    if state is not None:
        query = query.where(PaymentBatch.state == state)
    query = query.order_by(PaymentBatch.sequence).offset(offset).limit(limit)
    return list(session.scalars(query))


def batch_file(session: Session, actor: User, batch: PaymentBatch) -> RenderedFile:
    """The batch's file: as stored at preparation, or rendered now from its payments and stored
    (so that what is sent, hashed and downloaded is always the same bytes)."""
    authorize(actor, Permission.VIEW)
    loaded = session.scalar(
        select(PaymentBatch)
        .options(undefer(PaymentBatch.csv_data))
        .where(PaymentBatch.id == batch.id)
    )
    assert loaded is not None
    if loaded.csv_data is not None and loaded.csv_sha256:
        return RenderedFile(loaded.csv_data, loaded.csv_sha256)
    manager = load_manager(session, loaded.cycle.program)
    rendered = render_stored_batch(
        session, loaded, manager.file_format(loaded.cycle), manager.amount_format
    )
    loaded.csv_data, loaded.csv_sha256, loaded.csv_size = (
        rendered.data,
        rendered.sha256,
        len(rendered.data),
    )
    audit.record(
        session, actor, AuditAction.BATCH_FILE_RENDERED, loaded, {"sha256": rendered.sha256}
    )
    return rendered


def failed_payments(session: Session, cycle: Cycle, limit: int = 100) -> list[Payment]:
    """Some of the cycle's failed payments, with their reasons."""
    query = (
        select(Payment)
        .where(
            Payment.cycle_id == cycle.id,
            Payment.state == PaymentState.RECONCILED,
            Payment.status == PaymentStatus.FAILED,
        )
        .order_by(Payment.settled_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def send_cycle(
    factory: sessionmaker[Session],
    actor: User,
    cycle_id: uuid.UUID,
    batch_ids: Sequence[uuid.UUID] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SendReport:
    """Send the cycle's sendable batches (or the given ones) through its manager;
    ``progress(done, total)`` after each batch.

    Batches a dead process left in ``sending`` are first marked ``outcome_unknown`` so that
    they are looked up, never resent blindly. Owns its transactions (see the manager's send)."""
    authorize(actor, Permission.SEND_PAYMENTS)
    passed: list[BatchSendResult] = []
    with unit_of_work(factory) as session:
        cycle = _cycle(session, cycle_id)
        manager = load_manager(session, cycle.program)
        ids = sendable_batches(session, actor, cycle.id)
        if batch_ids is not None:
            sendable = set(ids)
            ids = [i for i in ids if i in set(batch_ids)]
            passed = _not_sendable(session, [i for i in batch_ids if i not in sendable])
    told = None if progress is None else partial(_told, progress, 0, len(ids))
    report = manager.send(factory, actor, ids, progress=told)
    report.results[:0] = passed
    return report


def _not_sendable(session: Session, batch_ids: Sequence[uuid.UUID]) -> list[BatchSendResult]:
    """A skipped result, with the reason, for each batch asked for that is not to be sent."""
    found = {
        b.id: b for b in session.scalars(select(PaymentBatch).where(PaymentBatch.id.in_(batch_ids)))
    }
    results = []
    for batch_id in batch_ids:
        batch = found.get(batch_id)
        if batch is None:
            results.append(BatchSendResult(str(batch_id), SendOutcome.SKIPPED, "no such batch"))
            continue
        waiting = why_waiting(batch)
        reason = _("batch is {state}").format(state=batch.state) + (
            f": {waiting.reason}" if waiting else ": nothing to send"
        )
        results.append(
            BatchSendResult(batch.name, SendOutcome.SKIPPED, reason, batch.phee_batch_id)
        )
    return results


def send_batches(
    factory: sessionmaker[Session],
    actor: User,
    batch_ids: Sequence[uuid.UUID],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SendReport:
    """Send (or resolve) these batches, in the given order, through their programs' managers
    (a chunk of a send job, or its helper). Each is claimed before its upload, from a sendable
    state only, so any number of workers may be asked to send the same batches."""
    authorize(actor, Permission.SEND_PAYMENTS)
    with unit_of_work(factory) as session:
        rows = session.execute(
            select(PaymentBatch.id, Cycle.program_id)
            .join(Cycle, Cycle.id == PaymentBatch.cycle_id)
            .where(PaymentBatch.id.in_(list(batch_ids)))
        ).tuples()
        programs = dict(rows.all())
        managers = {
            pid: load_manager(session, _program(session, pid)) for pid in set(programs.values())
        }
    report = SendReport()
    for program_id, manager in managers.items():
        ids = [i for i in batch_ids if programs.get(i) == program_id]
        before = len(report.results)
        told = None if progress is None else partial(_told, progress, before, len(batch_ids))
        report.results.extend(manager.send(factory, actor, ids, progress=told).results)
    return report


def _told(progress: Callable[[int, int], None], before: int, total: int, done: int) -> None:
    progress(before + done, total)


def sendable_batches(session: Session, actor: User | None, cycle_id: uuid.UUID) -> list[uuid.UUID]:
    """The cycle's batches to send or resolve, in order; lapsed ``sending`` claims (a process
    that died mid-send) are released first (``resend.release_lapsed_claims``)."""
    if actor is not None:  # releasing changes batches: only for those who may send them
        authorize(actor, Permission.SEND_PAYMENTS)
    release_lapsed_claims(session, actor)
    query = select(PaymentBatch.id).where(
        PaymentBatch.cycle_id == cycle_id, PaymentBatch.state.in_(SENDABLE)
    )
    return list(session.scalars(query.order_by(PaymentBatch.sequence)))


def sync_cycle(
    factory: sessionmaker[Session],
    actor: User | None,
    cycle_id: uuid.UUID | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SyncReport:
    """Sync every submitted batch (of one cycle, or of all cycles), program by program;
    ``progress(done, total)`` after each batch read."""
    query = _syncable_by_program()
    if cycle_id is not None:
        query = query.where(PaymentBatch.cycle_id == cycle_id)
    return _sync(factory, actor, query, progress)


def sync_batches(
    factory: sessionmaker[Session],
    actor: User | None,
    batch_ids: Sequence[uuid.UUID],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SyncReport:
    """Sync those of the batches that are submitted (or recently completed), in the given
    order, through their programs' managers (a chunk of a sync job, or its helper)."""
    order = {batch_id: n for n, batch_id in enumerate(batch_ids)}
    query = _syncable_by_program().where(PaymentBatch.id.in_(list(batch_ids)))
    return _sync(factory, actor, query, progress, order)


def _syncable_by_program() -> Any:
    return (
        select(PaymentBatch.id, Cycle.program_id)
        .join(Cycle, Cycle.id == PaymentBatch.cycle_id)
        .where(syncable())
        .order_by(PaymentBatch.sequence)
    )


def _sync(
    factory: sessionmaker[Session],
    actor: User | None,
    query: Any,
    progress: Callable[[int, int], None] | None,
    order: dict[uuid.UUID, int] | None = None,
) -> SyncReport:
    if actor is not None:  # sync writes payments' final outcomes, as the sync jobs say
        authorize(actor, Permission.SEND_PAYMENTS)
    with unit_of_work(factory) as session:
        by_program: dict[uuid.UUID, list[uuid.UUID]] = {}
        for batch_id, program_id in session.execute(query).tuples():
            by_program.setdefault(program_id, []).append(batch_id)
        managers = {pid: load_manager(session, _program(session, pid)) for pid in by_program}
    report = SyncReport()
    total = sum(len(ids) for ids in by_program.values())
    for program_id, ids in by_program.items():
        if order is not None:
            ids.sort(key=order.__getitem__)
        before = len(report.results)
        told = None if progress is None else partial(_told, progress, before, total)
        synced = managers[program_id].sync(factory, actor, ids, progress=told)
        report.results.extend(synced.results)
        report.problems.extend(synced.problems)
    return report


def mark_distributed(
    session: Session, actor: User, cycle: Cycle, *, unpaid_reason: str = ""
) -> None:
    """Mark a cycle distributed once every payment is final and no batch is still open. When
    some approved beneficiaries were not paid (failed, not payable, cancelled, never sent), it
    takes ``unpaid_reason`` — what happens to them — kept in the audit event with their
    numbers; without one it is refused, naming how many and why."""
    authorize(actor, Permission.SEND_PAYMENTS)
    open_payments = _open_payments(session, cycle)
    if open_payments:
        raise BusinessRuleViolation(
            _("cycle {name!r} still has {open_payments} payments that are not final").format(
                name=cycle.name, open_payments=open_payments
            )
        )
    reconciled = select(func.count()).where(
        Payment.cycle_id == cycle.id, Payment.state == PaymentState.RECONCILED
    )
    if not session.scalar(reconciled):
        raise BusinessRuleViolation(_("cycle {name!r} has no payments yet").format(name=cycle.name))
    refuse_unacknowledged(session, cycle)
    outcomes = cycle_outcomes(session, actor, cycle)
    data: dict[str, Any] = {}
    if outcomes.unpaid:
        reason = unpaid_reason.strip()
        if not reason:
            raise BusinessRuleViolation(
                _(
                    "cycle {name!r}: {unpaid_text}; mark it distributed with a reason "
                    "saying what happens to them"
                ).format(name=cycle.name, unpaid_text=unpaid_text(outcomes))
            )
        data = {
            "unpaid": {o.value: p.count for o, p in outcomes.people.items() if o in UNPAID},
            "unpaid_reason": reason[:2000],
        }
    set_cycle_state(session, actor, cycle, CycleState.DISTRIBUTED, data)


UNPAID = (Outcome.FAILED, Outcome.NOT_PAYABLE, Outcome.CANCELLED, Outcome.NOT_SENT)


def unpaid_text(outcomes: CycleOutcomes) -> str:
    """``"3 of 120 beneficiaries were not paid (2 failed, 1 not payable)"``."""
    parts = [f"{outcomes.count(o)} {o.label}" for o in UNPAID if outcomes.count(o)]
    return _("{unpaid} of {count} approved beneficiaries were not paid ({parts})").format(
        unpaid=outcomes.unpaid, count=outcomes.approved.count, parts=", ".join(parts)
    )


def end_cycle(session: Session, actor: User, cycle: Cycle) -> None:
    """Close a cycle for good: a distributed one, or an approved one with nothing left to pay
    (no payment still open, no approved entitlement without a payment). Audited."""
    authorize(actor, Permission.MANAGE_PROGRAMS)
    if cycle.state is CycleState.APPROVED:
        open_payments = _open_payments(session, cycle)
        unpaid = payable_count(session, cycle)
        if open_payments or unpaid:
            raise BusinessRuleViolation(
                _(
                    "cycle {name!r} still has {open_payments} open payments and {unpaid} "
                    "entitlements to pay; mark it distributed once they are final, or "
                    "cancel it"
                ).format(name=cycle.name, open_payments=open_payments, unpaid=unpaid)
            )
    set_cycle_state(session, actor, cycle, CycleState.ENDED)


def _open_payments(session: Session, cycle: Cycle) -> int:
    """The cycle's payments not final yet (issued or sent; not reconciled, not cancelled)."""
    query = select(func.count()).where(
        Payment.cycle_id == cycle.id, Payment.state.in_([PaymentState.ISSUED, PaymentState.SENT])
    )
    return int(session.scalar(query) or 0)


def _cycle(session: Session, cycle_id: uuid.UUID) -> Cycle:
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound(_("no cycle {cycle_id}").format(cycle_id=cycle_id))
    return cycle


def _program(session: Session, program_id: uuid.UUID) -> Program:
    program = session.get(Program, program_id)
    if program is None:
        raise NotFound(_("no program {program_id}").format(program_id=program_id))
    return program
