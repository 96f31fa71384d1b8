"""Payment and batch state machines (SPEC 2.3), with their only writers.

A payment goes ``issued → sent → reconciled`` and, once reconciled, carries a final ``status``
(``paid`` or ``failed``) that nothing changes again; an issued payment that cannot have reached
the hub may instead be ``cancelled`` (final too: its entitlement is payable again). A batch goes
``prepared → sending → submitted → completed``; ``rejected`` (PHEE refused it: it may be sent
again once fixed) and ``outcome_unknown`` (it may or may not have reached PHEE: it is looked up
before anything else is done) branch off ``sending``; a batch that never reached the hub may be
``cancelled`` (``payments.cancel``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import ClauseElement, Result, Table, bindparam, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.errors import Conflict
from g2p_payment_phee.i18n import _
from g2p_payment_phee.statemachine import StateMachine

if TYPE_CHECKING:
    from g2p_payment_phee.payments.models import PaymentBatch
    from g2p_payment_phee.users.models import User


class PaymentState(StrEnum):
    """Where a payment is in its life."""

    ISSUED = "issued"
    SENT = "sent"
    RECONCILED = "reconciled"
    CANCELLED = "cancelled"


class PaymentStatus(StrEnum):
    """The final outcome of a reconciled payment."""

    PAID = "paid"
    FAILED = "failed"


class BatchState(StrEnum):
    """Where a batch is in its life."""

    PREPARED = "prepared"
    SENDING = "sending"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    REJECTED = "rejected"
    OUTCOME_UNKNOWN = "outcome_unknown"
    CANCELLED = "cancelled"


_P = PaymentState
PAYMENT_MACHINE = StateMachine[PaymentState](
    "payment",
    {
        _P.ISSUED: frozenset({_P.SENT, _P.RECONCILED, _P.CANCELLED}),
        _P.SENT: frozenset({_P.RECONCILED}),
    },
)

_B = BatchState
BATCH_MACHINE = StateMachine[BatchState](
    "payment batch",
    {
        _B.PREPARED: frozenset({_B.SENDING, _B.COMPLETED, _B.CANCELLED}),
        # back to prepared: a lapsed claim whose upload never started
        _B.SENDING: frozenset({_B.SUBMITTED, _B.REJECTED, _B.OUTCOME_UNKNOWN, _B.PREPARED}),
        _B.REJECTED: frozenset({_B.SENDING, _B.COMPLETED, _B.CANCELLED}),
        _B.OUTCOME_UNKNOWN: frozenset({_B.SENDING, _B.SUBMITTED, _B.REJECTED}),
        _B.SUBMITTED: frozenset({_B.COMPLETED}),
    },
)


def set_batch_state(
    session: Session,
    actor: User | None,
    batch: PaymentBatch,
    target: BatchState,
    data: dict[str, Any] | None = None,
    **values: Any,
) -> None:
    """The only writer of a batch's state: checked, conditional on the state read (so two
    workers cannot both move one batch), audited. ``values`` are written in the same UPDATE."""
    from g2p_payment_phee.payments.models import PaymentBatch

    current = batch.state
    BATCH_MACHINE.check(current, target)
    result: Result[Any] = session.execute(
        update(PaymentBatch)
        .where(PaymentBatch.id == batch.id, PaymentBatch.state == current)
        .values(state=target, **values)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(result, "rowcount", 0)) != 1:
        raise Conflict(
            _("batch {name} is no longer {current}: someone else moved it").format(
                name=batch.name, current=current
            )
        )
    set_committed_value(batch, "state", target)
    for key, value in values.items():
        set_committed_value(batch, key, value)
    audit.record(
        session,
        actor,
        AuditAction.moved("batch", target),
        batch,
        {"from": current, "to": target, **(data or {})},
    )


def move_batches(
    session: Session,
    actor: User | None,
    batch_ids: Sequence[uuid.UUID],
    source: BatchState,
    target: BatchState,
    data: dict[str, Any] | None = None,
    *,
    details: Mapping[uuid.UUID, dict[str, Any]] | None = None,
    **values: Any,
) -> list[uuid.UUID]:
    """``set_batch_state`` for many batches at once: one UPDATE conditional on ``source``, one
    audit event per batch moved. Returns the ids moved; the others were no longer in ``source``.
    ``values`` (the same for every batch) are written in the same UPDATE."""
    from g2p_payment_phee.payments.models import PaymentBatch

    BATCH_MACHINE.check(source, target)
    moved: list[uuid.UUID] = []
    for start in range(0, len(batch_ids), 1000):
        chunk = list(batch_ids[start : start + 1000])
        result = session.execute(
            update(PaymentBatch)
            .where(PaymentBatch.id.in_(chunk), PaymentBatch.state == source)
            .values(state=target, **values)
            .returning(PaymentBatch.id)
            .execution_options(synchronize_session=False)
        )
        moved.extend(result.scalars().all())
    note_loaded_batches(session, moved, {"state": target, **values})
    event = {"from": source, "to": target, **(data or {})}
    extra = details or {}
    audit.record_many(
        session,
        actor,
        AuditAction.moved("batch", target),
        "payment_batches",
        ((bid, {**event, **extra.get(bid, {})}) for bid in moved),
    )
    return moved


@dataclass(frozen=True)
class BatchMove:
    """One batch's move in ``move_each_batch``: its target, columns written, audit details."""

    batch_id: uuid.UUID
    target: BatchState
    values: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


def move_each_batch(
    session: Session, actor: User | None, source: BatchState, moves: Sequence[BatchMove]
) -> None:
    """``set_batch_state`` for many batches, each with its own target and values: one
    executemany UPDATE per (target, columns), each row conditional on ``source``; one audit
    event per batch. Raises Conflict (the caller's transaction must roll back) if any batch was
    no longer in ``source``; callers lock the rows first so that this does not happen."""
    from g2p_payment_phee.payments.models import PaymentBatch

    table = PaymentBatch.__table__
    assert isinstance(table, Table)
    groups: dict[tuple[BatchState, tuple[str, ...]], list[BatchMove]] = {}
    for move in moves:
        BATCH_MACHINE.check(source, move.target)
        groups.setdefault((move.target, tuple(sorted(move.values))), []).append(move)
    for (target, columns), group in groups.items():
        statement = (
            update(table)
            .where(table.c.id == bindparam("m_id"), table.c.state == source.value)
            .values(state=target.value, **{c: bindparam(f"m_{c}") for c in columns})
        )
        rows = [{"m_id": m.batch_id, **{f"m_{c}": m.values[c] for c in columns}} for m in group]
        result = session.connection().execute(statement, rows)
        if int(result.rowcount) != len(rows):
            raise Conflict(
                _("some of {count} batches are no longer {source}: someone else moved them").format(
                    count=len(rows), source=source
                )
            )
        for move in group:
            note_loaded_batches(session, [move.batch_id], {"state": target, **move.values})
        audit.record_many(
            session,
            actor,
            AuditAction.moved("batch", target),
            "payment_batches",
            ((m.batch_id, {"from": source, "to": target, **m.data}) for m in group),
        )


def note_loaded_batches(
    session: Session, batch_ids: Iterable[uuid.UUID], values: dict[str, Any]
) -> None:
    """Keep batches already loaded in the session true to what a bulk UPDATE wrote."""
    from g2p_payment_phee.payments.models import PaymentBatch

    computed = [key for key, value in values.items() if isinstance(value, ClauseElement)]
    for batch_id in batch_ids:
        loaded = session.identity_map.get(identity_key(PaymentBatch, batch_id))
        if loaded is None:
            continue
        for key, value in values.items():
            if key not in computed:
                set_committed_value(loaded, key, value)
        if computed:
            session.expire(loaded, computed)


def mark_batch_payments_sent(session: Session, batch: PaymentBatch) -> int:
    """issued → sent for every payment of a batch that was handed over (one UPDATE, which
    keeps the batch's counters: ``counters.update_counted``).

    With ``reconcile.reconcile_payments`` (sent/issued → reconciled, conditional on not being
    final yet) these are the only writers of payment state."""
    from g2p_payment_phee.db import utcnow
    from g2p_payment_phee.payments.counters import update_counted
    from g2p_payment_phee.payments.models import Payment

    PAYMENT_MACHINE.check(PaymentState.ISSUED, PaymentState.SENT)
    payments = Payment.__table__
    assert isinstance(payments, Table)
    return update_counted(
        session,
        update(payments)
        .where(payments.c.batch_id == batch.id, payments.c.state == PaymentState.ISSUED)
        .values(state=PaymentState.SENT, sent_at=utcnow()),
    )


def mark_payments_sent(session: Session, batch_ids: Sequence[uuid.UUID]) -> int:
    """issued → sent for every payment of the batches handed over, in one UPDATE per 1,000
    batches, which keeps the batches' counters; returns how many payments were marked."""
    from g2p_payment_phee.db import utcnow
    from g2p_payment_phee.payments.counters import update_counted
    from g2p_payment_phee.payments.models import Payment

    PAYMENT_MACHINE.check(PaymentState.ISSUED, PaymentState.SENT)
    payments = Payment.__table__
    assert isinstance(payments, Table)
    marked = 0
    now = utcnow()
    for start in range(0, len(batch_ids), 1000):
        marked += update_counted(
            session,
            update(payments)
            .where(
                payments.c.batch_id.in_(list(batch_ids[start : start + 1000])),
                payments.c.state == PaymentState.ISSUED,
            )
            .values(state=PaymentState.SENT, sent_at=now),
        )
    return marked
