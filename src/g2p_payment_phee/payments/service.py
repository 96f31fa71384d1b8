"""Payments use cases: prepare a cycle, retry its failed payments, list and read batches.

Entry points (CLI, API, pages, jobs) call these; the program's configured payment manager does
the manager-specific part.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from g2p_payment_phee import audit
from g2p_payment_phee.errors import NotFound
from g2p_payment_phee.payments.config_service import load_manager
from g2p_payment_phee.payments.files import RenderedFile, render_stored_batch
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.prepare import PreparationReport
from g2p_payment_phee.payments.states import BatchState, PaymentState, PaymentStatus
from g2p_payment_phee.programs.models import Cycle
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
    manager = load_manager(session, cycle.program)
    report = manager.prepare(
        session, actor, cycle, dry_run=dry_run, progress=progress, only_failed=True
    )
    if report.created == 0 and not report.skipped_count:
        report.message = "nothing to retry: no entitlement has only failed payments"
    return report


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
        raise NotFound(f"no payment batch {name_or_id!r}")
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


@dataclass(frozen=True)
class CycleBatchTotals:
    """Batches per state and payments per outcome of a cycle."""

    batches: dict[BatchState, int]
    payments: dict[str, tuple[int, Decimal]]


def cycle_payment_totals(session: Session, cycle: Cycle) -> CycleBatchTotals:
    """Two grouped queries: batches by state; payments by state/status with amounts."""
    batches = dict(
        session.execute(
            select(PaymentBatch.state, func.count())
            .where(PaymentBatch.cycle_id == cycle.id)
            .group_by(PaymentBatch.state)
        )
        .tuples()
        .all()
    )
    rows = session.execute(
        select(Payment.state, Payment.status, func.count(), func.sum(Payment.amount_issued))
        .where(Payment.cycle_id == cycle.id)
        .group_by(Payment.state, Payment.status)
    ).tuples()
    payments: dict[str, tuple[int, Decimal]] = {}
    for state, status, count, amount in rows:
        key = status.value if state is PaymentState.RECONCILED and status else state.value
        payments[key] = (int(count), Decimal(amount or 0))
    return CycleBatchTotals(batches, payments)


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
    audit.record(session, actor, "batch.file_rendered", loaded, {"sha256": rendered.sha256})
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
