"""Reconcile payments with their outcomes, in bulk, and keep batch counters true.

A reconciled payment is final: every update here is conditional on the payment not being
reconciled yet, so a late, repeated or contradictory outcome changes nothing. On PostgreSQL the
outcomes are copied into a temporary table and applied with one ``UPDATE … FROM`` per chunk;
the columns it writes are in no index (``live`` only for failures), so most of these updates
are HOT updates.

Batch counters stay true in one of two ways. ``reconcile_batches`` (the status sync, on
PostgreSQL) adds to each batch what its payments' update changed, in the same statement: the
update returns the rows it changed, grouped per batch, and the batch row is incremented —
exact even when two syncs race, because both the payment update and the counter increment are
re-evaluated on the latest row version. Everywhere else the batches are recounted
(``refresh_batches``). Completed batches are moved set-based.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, case, func, select, text, update
from sqlalchemy.orm import Session

from g2p_payment_phee.bulk import copy_text
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentState,
    PaymentStatus,
    move_batches,
    note_loaded_batches,
)
from g2p_payment_phee.users.models import User

CHUNK = 50_000


@dataclass(frozen=True)
class Outcome:
    """What happened to one payment, as the hub (or a results file) says."""

    payment_id: uuid.UUID
    status: PaymentStatus
    amount_paid: Decimal | None = None
    reason: str | None = None
    transaction_id: str | None = None
    settled_at: datetime | None = None


def reconcile_payments(session: Session, outcomes: Sequence[Outcome]) -> int:
    """Make the payments final with their outcome; returns how many changed (finals stay).
    The caller recounts the batches (the status sync uses ``reconcile_batches``)."""
    changed = 0
    postgres = session.connection().dialect.name == "postgresql"
    for start in range(0, len(outcomes), CHUNK):
        chunk = outcomes[start : start + CHUNK]
        if postgres:
            changed += _reconcile_postgres(session, chunk)
        else:
            changed += _reconcile_generic(session, chunk)
    return changed


def _values(outcome: Outcome, now: datetime) -> tuple[Any, ...]:
    paid = outcome.status is PaymentStatus.PAID
    return (
        outcome.payment_id,
        outcome.status.value,
        outcome.amount_paid if paid else None,
        None if paid else (outcome.reason or "failed without a reason from the hub"),
        outcome.transaction_id,
        outcome.settled_at or now,
    )


def _reconcile_generic(session: Session, outcomes: Sequence[Outcome]) -> int:
    now = utcnow()
    names = ("pid", "status", "paid", "reason", "txid", "at")
    rows = [dict(zip(names, _values(o, now), strict=True)) for o in outcomes]
    for row in rows:
        row["live"] = row["status"] != PaymentStatus.FAILED.value
    table = Payment.__table__
    assert isinstance(table, Table)
    statement = (
        update(table)
        .where(table.c.id == bindparam("pid"), table.c.state != PaymentState.RECONCILED.value)
        .values(
            state=PaymentState.RECONCILED.value,
            status=bindparam("status"),
            live=bindparam("live"),
            amount_paid=bindparam("paid"),
            failure_reason=bindparam("reason"),
            phee_transaction_id=bindparam("txid"),
            settled_at=bindparam("at"),
        )
    )
    result = session.connection().execute(statement, rows)
    return int(result.rowcount)


def _copy_lines(outcomes: Sequence[Outcome], now: datetime) -> Iterator[str]:
    """The outcomes as COPY text lines, in ``_values`` order. A sync writes a million of them:
    ids go as hex (PostgreSQL reads a uuid without hyphens), and each timestamp and amount is
    formatted once."""
    stamps: dict[datetime, str] = {}
    amounts: dict[Decimal, str] = {}
    paid = PaymentStatus.PAID
    for o in outcomes:
        at = o.settled_at or now
        stamp = stamps.get(at)
        if stamp is None:
            stamp = stamps[at] = at.isoformat()
        txid = "\\N" if o.transaction_id is None else copy_text(o.transaction_id)
        if o.status is paid:
            value = o.amount_paid
            if value is None:
                amount = "\\N"
            else:
                amount = amounts.get(value) or amounts.setdefault(value, str(value))
            yield f"{o.payment_id.hex}\tpaid\t{amount}\t\\N\t{txid}\t{stamp}\n"
        else:
            reason = copy_text(o.reason or "failed without a reason from the hub")
            yield f"{o.payment_id.hex}\t{o.status.value}\t\\N\t{reason}\t{txid}\t{stamp}\n"


def _copy_outcomes(session: Session, outcomes: Sequence[Outcome]) -> Any:
    """The outcomes in a new temporary table ``reconcile_in`` (COPY); the connection."""
    now = utcnow()
    connection = session.connection()
    connection.exec_driver_sql("DROP TABLE IF EXISTS reconcile_in")
    connection.exec_driver_sql(
        "CREATE TEMP TABLE reconcile_in (id uuid, status text, amount_paid numeric, "
        "reason text, txid text, settled_at timestamptz) ON COMMIT DROP"
    )
    raw = connection.connection.driver_connection
    data = "".join(_copy_lines(outcomes, now))
    with raw.cursor() as cursor, cursor.copy("COPY reconcile_in FROM STDIN") as copy:  # type: ignore[union-attr]
        copy.write(data)
    return connection


_RECONCILE = (
    "UPDATE payments AS p SET state = 'reconciled', status = t.status, "
    "live = (t.status <> 'failed'), amount_paid = t.amount_paid, failure_reason = t.reason, "
    "phee_transaction_id = COALESCE(t.txid, p.phee_transaction_id), settled_at = t.settled_at "
    "FROM reconcile_in AS t WHERE p.id = t.id AND p.state <> 'reconciled'"
)


def _reconcile_postgres(session: Session, outcomes: Sequence[Outcome]) -> int:
    """COPY the outcomes into a temporary table, then one ``UPDATE … FROM``."""
    connection = _copy_outcomes(session, outcomes)
    result = connection.execute(text(_RECONCILE))
    connection.exec_driver_sql("DROP TABLE reconcile_in")
    return int(result.rowcount)


def reconcile_batches(
    session: Session,
    actor: User | None,
    outcomes: Sequence[Outcome],
    batch_ids: Sequence[uuid.UUID],
) -> tuple[int, list[PaymentBatch]]:
    """Reconcile outcomes of these batches' payments, keep the batches' counters true and
    complete the batches whose payments are all final; returns how many payments changed and
    the batches completed now. Every outcome is of a payment of one of the batches (on
    PostgreSQL the others are ignored)."""
    ids = list(dict.fromkeys(batch_ids))
    if session.connection().dialect.name != "postgresql":
        changed = reconcile_payments(session, outcomes)
        return changed, refresh_batches(session, actor, ids)
    changed = 0
    for start in range(0, len(outcomes), CHUNK):
        changed += _reconcile_counted(session, outcomes[start : start + CHUNK], ids)
    return changed, complete_batches(session, actor, ids)


# The payments' update returns the rows it changed; they are counted per batch and added to
# the batch rows. A payment that was never marked sent (``sent_at`` is set exactly when a
# payment moves issued → sent, by ``states.mark_*payments_sent``) is counted as sent now too,
# as ``count_batches`` would count it.
_COUNTED_COLUMNS = (
    "sent_count",
    "sent_amount",
    "paid_count",
    "paid_amount",
    "failed_count",
    "failed_amount",
)
_COUNTED_TAIL = (
    " AND p.batch_id = ANY(:batch_ids) RETURNING p.batch_id, p.status, p.amount_issued, "
    "p.amount_paid, p.sent_at IS NULL AS unsent"
    "), delta AS (SELECT batch_id, "
    "count(*) FILTER (WHERE unsent) AS sent_count, "
    "coalesce(sum(amount_issued) FILTER (WHERE unsent), 0) AS sent_amount, "
    "count(*) FILTER (WHERE status = 'paid') AS paid_count, "
    "coalesce(sum(amount_paid) FILTER (WHERE status = 'paid'), 0) AS paid_amount, "
    "count(*) FILTER (WHERE status = 'failed') AS failed_count, "
    "coalesce(sum(amount_issued) FILTER (WHERE status = 'failed'), 0) AS failed_amount, "
    "count(*) AS changed FROM changed GROUP BY batch_id) "
    "UPDATE payment_batches AS b SET "
    "sent_count = b.sent_count + d.sent_count, sent_amount = b.sent_amount + d.sent_amount, "
    "paid_count = b.paid_count + d.paid_count, paid_amount = b.paid_amount + d.paid_amount, "
    "failed_count = b.failed_count + d.failed_count, "
    "failed_amount = b.failed_amount + d.failed_amount "
    "FROM delta AS d WHERE b.id = d.batch_id RETURNING b.id, d.changed, "
    "b.sent_count, b.sent_amount, b.paid_count, b.paid_amount, b.failed_count, b.failed_amount"
)


def _reconcile_counted(
    session: Session, outcomes: Sequence[Outcome], batch_ids: list[uuid.UUID]
) -> int:
    """One chunk: COPY into a temporary table, then one statement that updates the payments
    and adds what changed to their batches' counters."""
    connection = _copy_outcomes(session, outcomes)
    statement = text("WITH changed AS (" + _RECONCILE + _COUNTED_TAIL)
    rows = connection.execute(statement, {"batch_ids": batch_ids}).tuples().all()
    connection.exec_driver_sql("DROP TABLE reconcile_in")
    changed = 0
    for bid, number, *counters in rows:
        changed += int(number)
        values = dict(zip(_COUNTED_COLUMNS, counters, strict=True))
        note_loaded_batches(session, [bid], values)
    return changed


def complete_batches(
    session: Session, actor: User | None, batch_ids: Sequence[uuid.UUID]
) -> list[PaymentBatch]:
    """Submitted batches whose counters say every payment is final move to completed (one
    set-based transition); returns them."""
    finished: list[uuid.UUID] = []
    B = PaymentBatch
    for start in range(0, len(batch_ids), 1000):
        query = select(B.id).where(
            B.id.in_(list(batch_ids[start : start + 1000])),
            B.state == BatchState.SUBMITTED,
            B.paid_count + B.failed_count >= B.issued_count,
        )
        finished.extend(session.scalars(query))
    return _complete(session, actor, finished)


def _complete(
    session: Session, actor: User | None, finished: list[uuid.UUID]
) -> list[PaymentBatch]:
    completed = move_batches(
        session,
        actor,
        finished,
        BatchState.SUBMITTED,
        BatchState.COMPLETED,
        completed_at=utcnow(),
    )
    if not completed:
        return []
    query = select(PaymentBatch).where(PaymentBatch.id.in_(completed))
    return list(session.scalars(query.order_by(PaymentBatch.sequence)))


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
        """The batch columns these counts are written to."""
        values = dict(self.__dict__)
        values.pop("open")
        return values


def refresh_batches(
    session: Session, actor: User | None, batch_ids: Iterable[uuid.UUID]
) -> list[PaymentBatch]:
    """Recount the batches' payments (one grouped query and one bulk UPDATE per 1,000 batches);
    submitted batches whose payments are all final complete, in one set-based transition.

    Returns the batches that completed now."""
    ids = list(dict.fromkeys(batch_ids))
    finished: list[uuid.UUID] = []
    table = PaymentBatch.__table__
    assert isinstance(table, Table)
    columns = [name for name in BatchCounts.__dataclass_fields__ if name != "open"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in columns})
    )
    for start in range(0, len(ids), 1000):
        counts = count_batches(session, ids[start : start + 1000])
        rows = [
            {"b_id": bid, **{f"b_{k}": v for k, v in c.columns().items()}}
            for bid, c in counts.items()
        ]
        if rows:
            session.connection().execute(statement, rows)
        for bid, batch_counts in counts.items():
            note_loaded_batches(session, [bid], batch_counts.columns())
        finished.extend(bid for bid, c in counts.items() if c.open == 0)
    return _complete(session, actor, finished)


def count_batches(session: Session, batch_ids: list[uuid.UUID]) -> dict[uuid.UUID, BatchCounts]:
    """Counts and amounts of the batches' payments, in one grouped query."""
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
