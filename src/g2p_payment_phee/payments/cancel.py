"""Cancelling payments that cannot have reached the hub (the seed's "cancel").

A payment can be cancelled while it is ``issued`` and no copy of it can be at the hub: it waits
for a batch, or its batch was never handed over — ``prepared`` with no upload ever started, or
``rejected`` with every upload refused outright (a batch whose outcome was ever unknown may have
been stored late, so it is never cancelled). A cancelled payment is final and no longer live:
its entitlement is payable again (prepare makes it a new payment). Cancelling a whole batch
cancels its payments and the batch; cancelling one payment of a batch takes it out of the batch,
whose file is then made again from the payments left when it is next needed.

Every change is conditional on the state it read, and the cycle is locked first (as prepare and
batching lock it), so a batch claimed for sending meanwhile is never cancelled: the cancel
fails instead, or (for a whole cycle) leaves that batch alone and says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select, update
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction, AuditEvent
from g2p_payment_phee.errors import (
    BusinessRuleViolation,
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
)
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.batch_store import lock_approved_cycle
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.states import (
    PAYMENT_MACHINE,
    BatchState,
    PaymentState,
    move_batches,
    note_loaded_batches,
)
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import CycleState
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

CANCELLABLE = (BatchState.PREPARED, BatchState.REJECTED)
_NOT_SENT = (*CANCELLABLE, BatchState.SENDING, BatchState.OUTCOME_UNKNOWN)
REASON_MAX = 500
LISTED_BATCHES = 100  # batch names kept in the audit event
# A batch that was ever in one of these states may be at the hub.
_AT_HUB_MAYBE = (
    AuditAction.BATCH_OUTCOME_UNKNOWN,
    AuditAction.BATCH_SUBMITTED,
    AuditAction.BATCH_COMPLETED,
)
_WHY_NOT = {
    BatchState.SENDING: "it is being uploaded to the hub now",
    BatchState.SUBMITTED: "the hub accepted it",
    BatchState.COMPLETED: "the hub processed it",
    BatchState.OUTCOME_UNKNOWN: "it may have reached the hub (its upload's outcome is unknown)",
    BatchState.CANCELLED: "it is cancelled already",
}


@dataclass
class CancelReport:
    """What a cancel did: payments cancelled with their amounts, batches dropped, batches that
    lost a payment, and batches left alone with the reason."""

    cycle: str
    reason: str
    cancelled: int = 0
    amounts: dict[str, Decimal] = field(default_factory=dict)
    batches: list[str] = field(default_factory=list)
    shrunk: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (batch, why)

    def add(self, currency: str, count: int, amount: Decimal) -> None:
        self.cancelled += count
        self.amounts[currency] = self.amounts.get(currency, Decimal(0)) + Decimal(amount)


def why_not_cancellable(session: Session, batch: PaymentBatch) -> str | None:
    """Why the batch's payments may not be cancelled (None: they may)."""
    if batch.state not in CANCELLABLE:
        return _WHY_NOT[batch.state]
    if batch.phee_batch_id or batch.phee_duplicate_ids:
        return _("the hub holds it (PHEE batch {value})").format(
            value=batch.phee_batch_id or batch.phee_duplicate_ids
        )
    if batch.state is BatchState.PREPARED and batch.last_attempt_at is not None:
        return _("an upload of it may have started at {last_attempt_at:%Y-%m-%d %H:%M} UTC").format(
            last_attempt_at=batch.last_attempt_at
        )
    if batch.state is BatchState.REJECTED and _maybe_at_hub(session, batch.id):
        return _("an earlier upload's outcome was unknown: the hub may have stored it late")
    return None


def _maybe_at_hub(session: Session, batch_id: uuid.UUID) -> bool:
    query = select(func.count()).where(
        AuditEvent.subject_type == PaymentBatch.__tablename__,
        AuditEvent.subject_id == batch_id,
        AuditEvent.action.in_([a.value for a in _AT_HUB_MAYBE]),
    )
    return bool(session.scalar(query))


def check_reason(reason: str) -> str:
    """The reason, stripped; ValidationFailed when empty or too long."""
    text = reason.strip()
    if not text or len(text) > REASON_MAX:
        raise ValidationFailed(
            _("a cancel needs a reason"),
            [
                FieldError(
                    "reason",
                    _("say why, in 1 to {REASON_MAX} characters").format(REASON_MAX=REASON_MAX),
                )
            ],
        )
    return text


def cancel_payments(
    session: Session,
    actor: User,
    cycle: Cycle,
    *,
    reason: str,
    batch: PaymentBatch | None = None,
    payment_id: uuid.UUID | None = None,
) -> CancelReport:
    """Cancel one batch's payments, one payment, or (neither given) every payment of the cycle
    that can be cancelled; audited with the reason. A batch or payment that may have reached the
    hub is refused (BusinessRuleViolation with the reason)."""
    authorize(actor, Permission.PREPARE_PAYMENTS)
    report = CancelReport(cycle=cycle.name, reason=check_reason(reason))
    if batch is not None and payment_id is not None:
        raise ValidationFailed(
            _("cancel a batch or a payment, not both"), [FieldError("payment", _("leave out"))]
        )
    if cycle.state is not CycleState.APPROVED:
        raise BusinessRuleViolation(
            _(
                "cycle {name!r} is {state}: only an approved cycle's payments are "
                "cancelled (nothing of a cycle in any other state waits to be sent)"
            ).format(name=cycle.name, state=cycle.state)
        )
    lock_approved_cycle(session, cycle)
    if batch is not None:
        _cancel_batch(session, actor, cycle, batch, report)
    elif payment_id is not None:
        _cancel_one(session, actor, cycle, payment_id, report)
    else:
        _cancel_cycle(session, actor, cycle, report)
    session.expire_all()
    audit.record(session, actor, AuditAction.PAYMENTS_CANCELLED, cycle, _audit_data(report))
    return report


def _cancel_batch(
    session: Session, actor: User, cycle: Cycle, batch: PaymentBatch, report: CancelReport
) -> None:
    if batch.cycle_id != cycle.id:
        raise NotFound(
            _("batch {name} is not a batch of cycle {cycle!r}").format(
                name=batch.name, cycle=cycle.name
            )
        )
    why = why_not_cancellable(session, batch)
    if why is not None:
        raise BusinessRuleViolation(
            _("batch {name} cannot be cancelled: {why}").format(name=batch.name, why=why)
        )
    if not _drop(session, actor, [batch], report):
        raise Conflict(
            _("batch {name} was claimed for sending meanwhile: not cancelled").format(
                name=batch.name
            )
        )


def _cancel_cycle(session: Session, actor: User, cycle: Cycle, report: CancelReport) -> None:
    waiting = (Payment.cycle_id == cycle.id, Payment.batch_id.is_(None))
    _cancel_where(session, waiting, report)
    # the batches not sent, and those that may or may not be at the hub (said to be left alone)
    candidates = session.scalars(
        select(PaymentBatch)
        .where(PaymentBatch.cycle_id == cycle.id, PaymentBatch.state.in_(_NOT_SENT))
        .order_by(PaymentBatch.sequence)
    ).all()
    droppable = []
    for batch in candidates:
        why = why_not_cancellable(session, batch)
        if why is None:
            droppable.append(batch)
        else:
            report.refused.append((batch.name, why))
    _drop(session, actor, droppable, report)
    if report.cancelled == 0:
        refused = "; ".join(f"batch {name}: {why}" for name, why in report.refused[:5])
        raise BusinessRuleViolation(
            _("cycle {name!r} has no payment that can be cancelled").format(name=cycle.name)
            + (f" ({refused})" if refused else ": none waits to be sent")
        )


def _cancel_one(
    session: Session, actor: User, cycle: Cycle, payment_id: uuid.UUID, report: CancelReport
) -> None:
    payment = session.get(Payment, payment_id)
    if payment is None or payment.cycle_id != cycle.id:
        raise NotFound(
            _("no payment {payment_id} in cycle {name!r}").format(
                payment_id=payment_id, name=cycle.name
            )
        )
    if payment.state is not PaymentState.ISSUED:
        done = payment.status or payment.state
        raise BusinessRuleViolation(
            _("payment {payment_id} is {done}: only issued payments").format(
                payment_id=payment_id, done=done
            )
        )
    batch = payment.batch
    if batch is not None:
        why = why_not_cancellable(session, batch)
        if why is not None:
            raise BusinessRuleViolation(
                _("payment {payment_id} cannot be cancelled: its batch {name}: {why}").format(
                    payment_id=payment_id, name=batch.name, why=why
                )
            )
        if batch.issued_count <= 1:
            if not _drop(session, actor, [batch], report):
                raise Conflict(
                    _("batch {name} was claimed for sending meanwhile").format(name=batch.name)
                )
            return
        _take_out(session, batch, payment)
        report.shrunk.append(batch.name)
    _cancel_where(session, (Payment.id == payment.id,), report, leave_batch=True)


def _take_out(session: Session, batch: PaymentBatch, payment: Payment) -> None:
    """One payment fewer in a batch never sent: its counters, and its file to be made again."""
    values: dict[str, Any] = {
        "issued_count": PaymentBatch.issued_count - 1,
        "issued_amount": PaymentBatch.issued_amount - payment.amount_issued,
        "csv_data": None,
        "csv_sha256": None,
        "csv_size": None,
    }
    result = session.execute(
        update(PaymentBatch)
        .where(PaymentBatch.id == batch.id, PaymentBatch.state == batch.state)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(result, "rowcount", 0)) != 1:
        raise Conflict(_("batch {name} was claimed for sending meanwhile").format(name=batch.name))
    note_loaded_batches(session, [batch.id], values)


def _drop(
    session: Session, actor: User, batches: Sequence[PaymentBatch], report: CancelReport
) -> list[uuid.UUID]:
    """Cancel the batches (those still in the state read) and their payments; the ids moved."""
    moved: list[uuid.UUID] = []
    data = {"reason": report.reason}
    for source in CANCELLABLE:
        ids = [b.id for b in batches if b.state is source]
        if ids:
            moved += move_batches(session, actor, ids, source, BatchState.CANCELLED, data)
    names = {b.id: b.name for b in batches}
    report.batches += [names[i] for i in moved]
    report.refused += [
        (b.name, "it was claimed for sending meanwhile") for b in batches if b.id not in moved
    ]
    for start in range(0, len(moved), 1000):
        _cancel_where(session, (Payment.batch_id.in_(moved[start : start + 1000]),), report)
    return moved


def _cancel_where(
    session: Session,
    where: tuple[ColumnElement[bool], ...],
    report: CancelReport,
    *,
    leave_batch: bool = False,
) -> None:
    """issued → cancelled (no longer live) for the payments ``where`` selects."""
    PAYMENT_MACHINE.check(PaymentState.ISSUED, PaymentState.CANCELLED)
    table = Payment.__table__
    assert isinstance(table, Table)
    issued = (*where, Payment.state == PaymentState.ISSUED)
    totals = session.execute(
        select(Payment.currency, func.count(), func.sum(Payment.amount_issued))
        .where(*issued)
        .group_by(Payment.currency)
    ).tuples()
    for currency, count, amount in totals:
        report.add(currency, int(count), Decimal(amount or 0))
    values: dict[str, Any] = {"state": PaymentState.CANCELLED, "live": False}
    if leave_batch:
        values.update(batch_id=None, batch_row=None)
    session.execute(
        update(Payment).where(*issued).values(**values).execution_options(synchronize_session=False)
    )


def _audit_data(report: CancelReport) -> dict[str, Any]:
    return {
        "reason": report.reason,
        "payments": report.cancelled,
        "amounts": {c: str(a) for c, a in report.amounts.items()},
        "batches": report.batches[:LISTED_BATCHES],
        "batch_count": len(report.batches),
        "shrunk": report.shrunk,
        "left_alone": [{"batch": n, "why": w} for n, w in report.refused[:LISTED_BATCHES]],
    }
