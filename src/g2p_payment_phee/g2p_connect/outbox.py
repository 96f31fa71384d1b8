"""Callbacks owed to senders, written to an outbox, never lost nor doubled (docs/g2p-connect.md,
"Callbacks").

*Writing* (``write_callbacks``): for each transaction that wants callbacks and has a record not
yet told a final status, compare every record's current status (``status.record_statuses``)
with the one last told (``G2PConnectRecord.notified_status``). The records that changed go into
one ``on-disburse`` callback (several when more than ``CALLBACK_RECORDS`` changed), and are
marked told, in the same database transaction: a crash before the commit leaves both undone,
after it both done. The transaction's row is locked first (skipped when another process holds
it), and each record is marked only if it still holds the status read, so two sweeps never
write the same change twice.

A record told final is looked at again only when its cycle got payments since the
transaction's last callback (the program team retried failed payments): it may go from ``rjct``
back to ``pdng`` and on to ``succ``, and the sender is told each step.

*Claiming* (``claim_due``): a due pending callback whose lease is free and whose transaction
has no earlier pending callback is leased to one claimer (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, a conditional update everywhere); the delivery is made outside any database
transaction and its outcome recorded by ``record_outcome``, fenced by the claim. A process that
dies mid-delivery leaves its lease to lapse, and the callback is sent again under the same
``message_id`` (at least once: the sender may see a message twice, never a change lost).

A refused delivery (``NACK``, ``ERR``, an HTTP error, no answer) is retried after an exponential
backoff (``backoff``); after ``MAX_ATTEMPTS`` the callback is given up, kept with its last
error, and the sender can still ask ``txn/status``.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Uuid, any_, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased, sessionmaker

from g2p_payment_phee.db import is_database_lost, unit_of_work, utcnow
from g2p_payment_phee.g2p_connect.models import (
    G2PConnectRecord,
    G2PConnectSender,
    G2PConnectTransaction,
)
from g2p_payment_phee.g2p_connect.outbox_models import CallbackState, G2PConnectCallback
from g2p_payment_phee.g2p_connect.status import (
    FINAL_STATUSES,
    SUCC,
    RecordStatus,
    record_statuses,
    wire_time,
)
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import CycleState

log = logging.getLogger(__name__)
ON_DISBURSE = "on-disburse"
OPEN_HEADER = "pdng"
CALLBACK_VERSION = "1.0.0"
CALLBACK_RECORDS = 5000  # records per callback: a 100,000-record transaction is 20 bodies
MARK_CHUNK = 10_000  # records marked per statement (within SQLite's 32,766 parameters)
LEASE = timedelta(minutes=2)  # longer than a delivery's timeouts
FIRST_RETRY = timedelta(seconds=10)
LONGEST_WAIT = timedelta(hours=1)
MAX_ATTEMPTS = 25  # 10 s, 20 s, ... then hourly: given up after about 17 hours
OUR_ID = "g2p-payment-phee"  # header.sender_id of our callbacks


class ChangedMeanwhile(Exception):
    """Another process marked some of a transaction's records while this one read them."""


def write_callbacks(factory: sessionmaker[Session], *, our_id: str = OUR_ID) -> int:
    """Write the callbacks owed for every transaction with news, one database transaction per
    G2P Connect transaction; how many callbacks were written."""
    with unit_of_work(factory) as session:
        told = func.coalesce(G2PConnectRecord.notified_status, "")
        open_record = exists().where(
            G2PConnectRecord.txn_id == G2PConnectTransaction.id,
            told.not_in(sorted(FINAL_STATUSES)),
        )
        txn_ids = list(
            session.scalars(
                select(G2PConnectTransaction.id).where(
                    G2PConnectTransaction.wants_callback.is_(True), open_record
                )
            )
        )
        listed = set(txn_ids)
        txn_ids += [txn_id for txn_id in _paid_again(session) if txn_id not in listed]
    written = 0
    for txn_id in txn_ids:
        try:
            with unit_of_work(factory) as session:
                written += write_transaction_callbacks(session, txn_id, our_id=our_id)
        except ChangedMeanwhile:
            log.info("g2p-connect transaction %s: written by another process meanwhile", txn_id)
        except Exception as error:
            if is_database_lost(error):
                raise
            # one transaction's problem must not keep the others' news from their senders
            log.exception("g2p-connect transaction %s: its callbacks could not be written", txn_id)
    return written


def write_transaction_callbacks(
    session: Session, txn_id: uuid.UUID, *, our_id: str = OUR_ID, now: datetime | None = None
) -> int:
    """Add the callbacks a transaction owes (its records whose status changed since last told)
    and mark those records told; the caller commits. How many callbacks were added."""
    txn = session.scalars(
        select(G2PConnectTransaction)
        .where(G2PConnectTransaction.id == txn_id)
        .with_for_update(skip_locked=True)
    ).first()
    if txn is None:  # another process is writing this transaction's callbacks
        return 0
    query = select(G2PConnectRecord.id, G2PConnectRecord.notified_status).where(
        G2PConnectRecord.txn_id == txn_id
    )
    told = dict(session.execute(query).tuples().all())
    if _paid_since_told(session, txn):  # failed payments retried: final ones may change too
        open_ids = list(told)
    else:
        open_ids = [record_id for record_id, status in told.items() if status not in FINAL_STATUSES]
    # a record told a final status is not told again: only the open ones are looked at (all
    # of them in one query while most are open)
    if 2 * len(open_ids) < len(told):
        statuses = record_statuses(session, record_ids=open_ids)
    else:
        still_open = set(open_ids)
        statuses = [s for s in record_statuses(session, txn_id) if s.record_id in still_open]
    changed = [s for s in statuses if s.status != told.get(s.record_id)]
    if not changed:
        return 0
    now = now or utcnow()
    sequence = session.scalar(
        select(func.coalesce(func.max(G2PConnectCallback.sequence), 0)).where(
            G2PConnectCallback.txn_id == txn_id
        )
    )
    told_final = len(told) - len(open_ids)
    header = _header(statuses, told_final, our_id, txn.sender.sender_id)
    chunks = [changed[i : i + CALLBACK_RECORDS] for i in range(0, len(changed), CALLBACK_RECORDS)]
    for offset, chunk in enumerate(chunks, start=1):
        session.add(_callback(txn, int(sequence or 0) + offset, header, chunk, now))
    _mark_told(session, changed, told)
    return len(chunks)


def _paid_again(session: Session) -> list[uuid.UUID]:
    """Transactions whose cycle (still approved: failed payments may be retried) got payments
    after the transaction's last callback: records told final may have changed."""
    last_told = (
        select(
            G2PConnectTransaction.id,
            G2PConnectTransaction.cycle_id,
            func.max(G2PConnectCallback.created_at),
        )
        .join(Cycle, Cycle.id == G2PConnectTransaction.cycle_id)
        .join(G2PConnectCallback, G2PConnectCallback.txn_id == G2PConnectTransaction.id)
        .where(G2PConnectTransaction.wants_callback.is_(True), Cycle.state == CycleState.APPROVED)
        .group_by(G2PConnectTransaction.id, G2PConnectTransaction.cycle_id)
    )
    return [
        txn_id
        for txn_id, cycle_id, last in session.execute(last_told).tuples()
        if cycle_id is not None and _payments_since(session, cycle_id, last)
    ]


def _paid_since_told(session: Session, txn: G2PConnectTransaction) -> bool:
    if txn.cycle_id is None:
        return False
    last = session.scalar(
        select(func.max(G2PConnectCallback.created_at)).where(G2PConnectCallback.txn_id == txn.id)
    )
    return last is not None and _payments_since(session, txn.cycle_id, last)


def _payments_since(session: Session, cycle_id: uuid.UUID, moment: datetime) -> bool:
    """Whether the cycle has a payment made after ``moment``. Row ids are time-ordered
    (``ids``: UUIDv7), so the primary key finds the newest payments without reading the
    cycle's others."""
    ms = int(moment.timestamp() * 1000)
    first_id = uuid.UUID(int=(ms << 80) | (0x7 << 76) | (0b10 << 62))  # the ms's smallest id
    newer = select(Payment.id).where(Payment.id > first_id, Payment.cycle_id == cycle_id)
    return session.scalar(newer.limit(1)) is not None


def _header(
    statuses: Sequence[RecordStatus], told_final: int, our_id: str, receiver: str
) -> dict[str, Any]:
    """The transaction-wide part of a callback header (``statuses``: the records still open
    before this callback; ``told_final``: how many others were told final already):
    ``pdng`` while a record is open."""
    counts = Counter(s.status for s in statuses)
    completed = told_final + sum(counts[status] for status in FINAL_STATUSES)
    total = told_final + len(statuses)
    return {
        "version": CALLBACK_VERSION,
        "action": ON_DISBURSE,
        "status": SUCC if completed == total else OPEN_HEADER,
        "total_count": total,
        "completed_count": completed,
        "sender_id": our_id,
        "receiver_id": receiver,
        "is_msg_encrypted": False,
    }


def _callback(
    txn: G2PConnectTransaction,
    sequence: int,
    header: dict[str, Any],
    chunk: Sequence[RecordStatus],
    now: datetime,
) -> G2PConnectCallback:
    message_id = uuid.uuid4().hex
    body = {
        "header": {**header, "message_id": message_id, "message_ts": wire_time(now)},
        "message": {
            "transaction_id": txn.transaction_id,
            "disbursements_status": [s.as_wire() for s in chunk],
        },
    }
    return G2PConnectCallback(
        txn_id=txn.id,
        sequence=sequence,
        action=ON_DISBURSE,
        message_id=message_id,
        body=body,
        record_count=len(chunk),
        state=CallbackState.PENDING,
        attempts=0,
        next_attempt_at=now,
    )


def _mark_told(
    session: Session, changed: Sequence[RecordStatus], told: dict[uuid.UUID, str | None]
) -> None:
    """Set ``notified_status`` set-wise, each record only if it still holds what was read."""
    groups: dict[tuple[str | None, str], list[uuid.UUID]] = {}
    for status in changed:
        groups.setdefault((told.get(status.record_id), status.status), []).append(status.record_id)
    postgres = session.get_bind().dialect.name == "postgresql"
    marked = 0
    for (before, after), ids in groups.items():
        still = (
            G2PConnectRecord.notified_status.is_(None)
            if before is None
            else G2PConnectRecord.notified_status == before
        )
        for start in range(0, len(ids), MARK_CHUNK):
            chunk = ids[start : start + MARK_CHUNK]
            # one array parameter on PostgreSQL (a long IN list costs more to send and plan)
            among = (
                G2PConnectRecord.id == any_(bindparam("ids", chunk, type_=ARRAY(Uuid)))
                if postgres
                else G2PConnectRecord.id.in_(chunk)
            )
            result = session.execute(
                update(G2PConnectRecord)
                .where(among, still)
                .values(notified_status=after)
                .execution_options(synchronize_session=False)
            )
            marked += int(getattr(result, "rowcount", 0))
    if marked != len(changed):
        raise ChangedMeanwhile(f"{len(changed) - marked} of {len(changed)} records")


# --- delivery bookkeeping ------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A callback leased to this claimer, with what its delivery needs."""

    id: uuid.UUID
    message_id: str
    body: dict[str, Any]
    attempts: int
    url: str | None
    sender_id: str
    token_url: str | None
    token_client_id: str | None
    token_client_secret_encrypted: str | None


def claim_due(
    session: Session, claimer: str, *, now: datetime | None = None, limit: int = 100
) -> list[Claimed]:
    """Lease up to ``limit`` due callbacks to ``claimer`` (each transaction's first pending
    one only); the caller commits before delivering."""
    now = now or utcnow()
    call = G2PConnectCallback
    earlier = aliased(G2PConnectCallback)
    blocked = exists().where(
        earlier.txn_id == call.txn_id,
        earlier.state == CallbackState.PENDING,
        earlier.sequence < call.sequence,
    )
    free = or_(call.lease_until.is_(None), call.lease_until < now)
    ids = session.scalars(
        select(call.id)
        .where(call.state == CallbackState.PENDING, call.next_attempt_at <= now, free, ~blocked)
        .order_by(call.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=call)
    ).all()
    if not ids:
        return []
    session.execute(
        update(call)
        .where(call.id.in_(ids), call.state == CallbackState.PENDING, free)
        .values(claimed_by=claimer, lease_until=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(
            call.id,
            call.message_id,
            call.body,
            call.attempts,
            func.coalesce(G2PConnectTransaction.callback_url, G2PConnectSender.callback_url),
            G2PConnectSender.sender_id,
            G2PConnectSender.token_url,
            G2PConnectSender.token_client_id,
            G2PConnectSender.token_client_secret_encrypted,
        )
        .join(G2PConnectTransaction, G2PConnectTransaction.id == call.txn_id)
        .join(G2PConnectSender, G2PConnectSender.id == G2PConnectTransaction.sender_id)
        .where(call.id.in_(ids), call.claimed_by == claimer)
        .order_by(call.next_attempt_at)
    ).tuples()
    return [Claimed(*row) for row in rows]


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed delivery: 10 s, doubling, at most an
    hour."""
    wait: timedelta = FIRST_RETRY * (2 ** min(max(attempts - 1, 0), 20))
    return min(wait, LONGEST_WAIT)


def record_outcome(
    session: Session,
    claimed: Claimed,
    claimer: str,
    error: str | None,
    *,
    now: datetime | None = None,
) -> CallbackState | None:
    """Record a delivery attempt (``error`` None: the sender ACKed); the callback's new state,
    or None when the claim was lost meanwhile (its lease lapsed and another took it)."""
    now = now or utcnow()
    attempts = claimed.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "claimed_by": None,
        "lease_until": None,
        "last_error": error,
    }
    if error is None:
        values.update(state=CallbackState.DELIVERED, delivered_at=now)
    elif attempts >= MAX_ATTEMPTS:
        values.update(state=CallbackState.GIVEN_UP)
    else:
        values.update(next_attempt_at=now + backoff(attempts))
    result = session.execute(
        update(G2PConnectCallback)
        .where(G2PConnectCallback.id == claimed.id, G2PConnectCallback.claimed_by == claimer)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return None
    state: CallbackState = values.get("state", CallbackState.PENDING)
    return state
