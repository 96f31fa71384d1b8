"""Batch counters (SPEC 2.3): how many of a batch's payments, and how much, are issued, sent,
paid and failed, kept on the batch row for pages, reports and completion.

A batch is made with its issued count and amount and zeros elsewhere (prepare). From then on
its counters change in one place, ``update_counted``: every UPDATE that moves payments on
(issued → sent, → reconciled) runs through it, and what that update changed is added to the
counters of the payments' batches in the same step. So the counters always equal a recount of
the payments (``count_batches``). On PostgreSQL it is one statement: the payments' update
returns the rows it changed, they are counted per batch and added to the batch rows. Elsewhere
(SQLite) the update returns the changed rows, they are counted here and added with one
executemany; SQLite runs one writer at a time, so nothing comes between the two.

Exact when writers race: a conditional update of a payment is re-evaluated on the payment's
latest version (one made final meanwhile is not changed again), and the increment of a batch
row on the batch row's latest version.

A payment counts as sent once it left ``issued``. ``sent_at`` is written exactly when a payment
moves issued → sent, so a changed payment is newly sent when it is now ``sent``, or reconciled
without ever having been marked sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Table,
    Update,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus, note_loaded_batches

COUNTERS = (
    "sent_count",
    "sent_amount",
    "paid_count",
    "paid_amount",
    "failed_count",
    "failed_amount",
)


def _tables() -> tuple[Table, Table]:
    payments, batches = Payment.__table__, PaymentBatch.__table__
    assert isinstance(payments, Table)
    assert isinstance(batches, Table)
    return payments, batches


def update_counted(session: Session, change: Update) -> int:
    """Run ``change``, an UPDATE of the payments table that moves payments on in their life,
    and add what it changed to their batches' counters; returns how many payments changed."""
    if session.connection().dialect.name == "postgresql":
        return _update_counted_in_one_statement(session, change)
    return _update_counted_here(session, change)


def _changed_columns(payments: Table) -> tuple[Any, ...]:
    return (
        payments.c.batch_id,
        payments.c.status,
        payments.c.amount_issued,
        payments.c.amount_paid,
    )


def _update_counted_in_one_statement(session: Session, change: Update) -> int:
    payments, batches = _tables()
    newly_sent = or_(payments.c.state == PaymentState.SENT.value, payments.c.sent_at.is_(None))
    returning = change.returning(*_changed_columns(payments), newly_sent.label("newly_sent"))
    changed = returning.cte("changed")
    c = changed.c
    paid = c.status == PaymentStatus.PAID.value
    failed = c.status == PaymentStatus.FAILED.value

    def number(condition: Any) -> Any:
        return func.count().filter(condition)

    def total(column: Any, condition: Any) -> Any:
        return func.coalesce(func.sum(column).filter(condition), 0)

    delta = (
        select(
            c.batch_id,
            func.count().label("changed"),
            number(c.newly_sent).label("sent_count"),
            total(c.amount_issued, c.newly_sent).label("sent_amount"),
            number(paid).label("paid_count"),
            total(c.amount_paid, paid).label("paid_amount"),
            number(failed).label("failed_count"),
            total(c.amount_issued, failed).label("failed_amount"),
        )
        .group_by(c.batch_id)
        .cte("delta")
    )
    d = delta.c
    bumped = (
        update(batches)
        .where(batches.c.id == d.batch_id)
        .values({name: batches.c[name] + d[name] for name in COUNTERS})
        .returning(batches.c.id, *(batches.c[name] for name in COUNTERS))
        .cte("bumped")
    )
    query = select(d.changed, bumped.c.id, *(bumped.c[name] for name in COUNTERS)).select_from(
        delta.outerjoin(bumped, bumped.c.id == d.batch_id)
    )
    total_changed = 0
    for number_changed, batch_id, *values in session.execute(query).tuples():
        total_changed += int(number_changed)
        if batch_id is not None:
            note_loaded_batches(session, [batch_id], dict(zip(COUNTERS, values, strict=True)))
    return total_changed


@dataclass
class _Delta:
    sent_count: int = 0
    sent_amount: Decimal = Decimal(0)
    paid_count: int = 0
    paid_amount: Decimal = Decimal(0)
    failed_count: int = 0
    failed_amount: Decimal = Decimal(0)


def _update_counted_here(session: Session, change: Update) -> int:
    payments, batches = _tables()
    connection = session.connection()
    # SQLite (3.40) gets ``sent_at IS NULL`` wrong in a RETURNING clause: decided here.
    returning = change.returning(*_changed_columns(payments), payments.c.state, payments.c.sent_at)
    rows = connection.execute(returning).tuples().all()
    deltas: dict[uuid.UUID, _Delta] = {}
    for batch_id, status, issued, paid, state, sent_at in rows:
        if batch_id is None:
            continue
        delta = deltas.get(batch_id) or deltas.setdefault(batch_id, _Delta())
        if state == PaymentState.SENT or sent_at is None:
            delta.sent_count += 1
            delta.sent_amount += issued
        if status == PaymentStatus.PAID:
            delta.paid_count += 1
            delta.paid_amount += paid or 0
        elif status == PaymentStatus.FAILED:
            delta.failed_count += 1
            delta.failed_amount += issued
    if deltas:
        statement = (
            update(batches)
            .where(batches.c.id == bindparam("d_id"))
            .values({name: batches.c[name] + bindparam(f"d_{name}") for name in COUNTERS})
        )
        connection.execute(
            statement,
            [
                {"d_id": bid, **{f"d_{k}": v for k, v in d.__dict__.items()}}
                for bid, d in deltas.items()
            ],
        )
        _expire_loaded(session, list(deltas))
    return len(rows)


def _expire_loaded(session: Session, batch_ids: Sequence[uuid.UUID]) -> None:
    """Loaded batches read their counters again when next used."""
    for batch_id in batch_ids:
        loaded = session.identity_map.get(identity_key(PaymentBatch, batch_id))
        if loaded is not None:
            session.expire(loaded, list(COUNTERS))


@dataclass(frozen=True)
class BatchCounts:
    """A batch's payments counted by where they are; ``open`` ones are not reconciled yet."""

    issued_count: int
    issued_amount: Decimal
    sent_count: int
    sent_amount: Decimal
    paid_count: int
    paid_amount: Decimal
    failed_count: int
    failed_amount: Decimal
    open: int

    def columns(self) -> dict[str, Any]:
        """The batch columns these counts are kept in."""
        values = dict(self.__dict__)
        values.pop("open")
        return values


def count_batches(session: Session, batch_ids: list[uuid.UUID]) -> dict[uuid.UUID, BatchCounts]:
    """The batches' payments counted afresh, in one grouped query (what their counters say)."""
    P = Payment
    reconciled = P.state == PaymentState.RECONCILED
    paid = reconciled & (P.status == PaymentStatus.PAID)
    failed = reconciled & (P.status == PaymentStatus.FAILED)
    sent = P.state.in_([PaymentState.SENT, PaymentState.RECONCILED])

    def number(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def amount(condition: Any, column: Any) -> Any:
        return func.coalesce(func.sum(case((condition, column), else_=0)), 0)

    query = (
        select(
            P.batch_id,
            func.count(),
            amount(True, P.amount_issued),
            number(sent),
            amount(sent, P.amount_issued),
            number(paid),
            amount(paid, P.amount_paid),
            number(failed),
            amount(failed, P.amount_issued),
            number(~reconciled),
        )
        .where(P.batch_id.in_(batch_ids))
        .group_by(P.batch_id)
    )
    out: dict[uuid.UUID, BatchCounts] = {}
    for bid, *values in session.execute(query).tuples().all():
        issued, issued_amt, sent_n, sent_amt, paid_n, paid_amt, failed_n, failed_amt, open_n = (
            values
        )
        out[bid] = BatchCounts(
            int(issued), Decimal(issued_amt), int(sent_n), Decimal(sent_amt),
            int(paid_n), Decimal(paid_amt), int(failed_n), Decimal(failed_amt), int(open_n),
        )  # fmt: skip
    return out
