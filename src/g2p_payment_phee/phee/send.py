"""send_payments (SPEC 3.3, 2.3): submit batches to PHEE, never twice, never blindly.

A batch goes through three steps, because a hub call must never happen inside an open
transaction: (1) *claim* — a conditional update moves it to ``sending`` (so no other process
sends it) and counts the attempt, committed before anything else; (2) the upload, outside any
transaction; (3) the answer is recorded: ``submitted`` (payments ``sent``), ``rejected`` (PHEE
refused it; it can be sent again once fixed) or ``outcome_unknown`` (it may have reached PHEE).
A batch in ``outcome_unknown`` — or left in ``sending`` by a process that died — is first looked
up at PHEE by its correlation id: found, it is ``submitted`` without a resend; resent only when
PHEE provably does not have it, with the same correlation id and the same file.

The database work runs beside the uploads, one call at a time, set-based, several batches per
transaction (``CLAIM_BATCHES`` claimed, ``RECORD_BATCHES`` recorded) — on a thread, or for a
large send on PostgreSQL in a process of its own (``send_worker``) — while the calling thread
talks to PHEE (one upload at a time): the next chunk is claimed while this one is uploaded, and
answers are recorded while the next batches are uploaded. A claim is always committed before its
batch's upload starts; a batch whose answer was not recorded (the process died, or the database
stayed unreachable through every try of ``RECORD_PAUSES``) stays ``sending`` and is looked up,
never resent blindly.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.bulk import prefer_indexes
from g2p_payment_phee.db import database_problem, is_database_lost, unit_of_work, utcnow
from g2p_payment_phee.errors import G2PError
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.reconcile import refresh_batches
from g2p_payment_phee.payments.reports import BatchSendResult, SendReport
from g2p_payment_phee.payments.service import batch_file
from g2p_payment_phee.payments.states import (
    BatchMove,
    BatchState,
    mark_payments_sent,
    move_batches,
    move_each_batch,
    note_loaded_batches,
    set_batch_state,
)
from g2p_payment_phee.phee.callbacks import callback_key, callback_token, callback_token_hash
from g2p_payment_phee.phee.client import PheeClient
from g2p_payment_phee.phee.errors import PheeError, PheeRejected
from g2p_payment_phee.phee.send_worker import PerSend, database_work
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

if TYPE_CHECKING:
    from g2p_payment_phee.phee.manager import PheeManager

log = logging.getLogger(__name__)
SENDABLE = (BatchState.PREPARED, BatchState.REJECTED, BatchState.OUTCOME_UNKNOWN)
STALE_SENDING = timedelta(minutes=10)
CLAIM_BATCHES = 25  # batches claimed per transaction
FIRST_CLAIM = 2  # the first claim is small: uploads start at once
RECORD_BATCHES = 10  # answers recorded per transaction (the last wait is for at most these)
RECORD_PAUSES = (0.5, 1.0, 2.0, 4.0, 8.0)  # waits between tries to record, the database lost


def worker_name() -> str:
    """Who claims a batch: host and process, for people reading the batch."""
    import os

    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class _Claimed:
    """A batch this process claimed (committed), with what its upload needs."""

    batch_id: uuid.UUID
    name: str
    was: BatchState
    correlation_id: str
    created_at: datetime
    file_name: str
    data: bytes | None = None
    broken: Exception | None = None  # the file could not be read or rendered


@dataclass
class _Answer:
    """What PHEE said about a claimed batch, waiting to be recorded."""

    claimed: _Claimed
    phee_batch_id: str | None = None
    raw: dict[str, Any] | None = None
    looked_up: bool = False
    error: PheeError | None = None
    lookup_failed: bool = False


_Step = _Claimed | BatchSendResult
_Done = _Answer | BatchSendResult


def send_batches(
    factory: sessionmaker[Session],
    actor: User,
    manager: PheeManager,
    batch_ids: Sequence[uuid.UUID],
    *,
    client: PheeClient | None = None,
    progress: Callable[[int], None] | None = None,
) -> SendReport:
    """Send (or resolve) each batch; one batch's failure never stops the others. ``progress``
    is told how many batches were handled (uploaded, looked up or skipped) so far, after each."""
    authorize(actor, Permission.SEND_PAYMENTS)
    report = SendReport()
    own = client is None
    hub = client or manager.client()
    chunks = _chunks(batch_ids)
    recorded: list[Future[list[BatchSendResult]]] = []
    patience = _Patience()
    handled = 0
    claiming: Future[list[_Step]] | None = None
    try:
        with database_work(factory, actor, len(batch_ids)) as db:
            for index, chunk in enumerate(chunks):
                if claiming is None:
                    claiming = db.submit(_claim_chunk, chunk)
                steps = claiming.result()
                claiming = None
                if index + 1 < len(chunks):
                    claiming = db.submit(_claim_chunk, chunks[index + 1])
                done: list[_Done] = []
                for step in steps:
                    done.append(_attempt(hub, manager, step))
                    if isinstance(step, _Claimed):
                        step.data = None  # uploaded: the record needs no file (nor carries one)
                    handled += 1
                    if progress is not None:
                        progress(handled)
                    if len(done) >= RECORD_BATCHES:
                        recorded.append(db.submit(_record_chunk, done, patience))
                        done = []
                recorded.append(db.submit(_record_chunk, done, patience))
            for future in recorded:
                report.results.extend(future.result())
    finally:
        if claiming is not None:
            claiming.cancel()
        if own:
            hub.close()
    return report


def _chunks(batch_ids: Sequence[uuid.UUID]) -> list[list[uuid.UUID]]:
    """Claim chunks: a small first one, so that uploads start at once, then CLAIM_BATCHES."""
    first = min(FIRST_CLAIM, len(batch_ids))
    rest = batch_ids[first:]
    chunks = [list(batch_ids[:first])] if first else []
    chunks += [list(rest[i : i + CLAIM_BATCHES]) for i in range(0, len(rest), CLAIM_BATCHES)]
    return chunks


# --- PHEE: lookup and upload, no database ------------------------------------------------------


def _attempt(hub: PheeClient, manager: PheeManager, step: _Step) -> _Done:
    """Look an unknown outcome up; upload unless PHEE provably has the batch already."""
    if isinstance(step, BatchSendResult):
        return step
    if step.was is BatchState.OUTCOME_UNKNOWN:
        try:
            found = hub.find_batch(step.correlation_id, since=step.created_at)
        except PheeError as error:
            return _Answer(step, error=error, lookup_failed=True)
        if found is not None:
            return _Answer(step, found.phee_batch_id, found.raw, looked_up=True)
        log.info(
            "batch %s (correlation id %s) is not at PHEE: sending it again",
            step.name,
            step.correlation_id,
        )
    try:
        if step.broken is not None:
            raise step.broken
        assert step.data is not None
        accepted = hub.upload_batch(
            file_name=step.file_name,
            csv_bytes=step.data,
            correlation_id=step.correlation_id,
            callback_url=_callback_url(manager, step.batch_id),
        )
    except PheeError as error:
        return _Answer(step, error=error)
    except Exception as error:
        # Anything else (a file or header that cannot be sent, a bug) must neither leave the
        # batch claimed in ``sending`` nor stop the other batches: it is recorded as unknown,
        # so that the next attempt looks it up first.
        return _Answer(step, error=_upload_broke(error, step.batch_id))
    return _Answer(step, accepted.phee_batch_id, accepted.raw)


def _upload_broke(error: Exception, batch_id: uuid.UUID) -> PheeError:
    """The error, as a PheeError that may have delivered, without the batch's callback token."""
    if isinstance(error, G2PError):
        reason = error.message
    else:
        log.error("sending batch %s failed unexpectedly", batch_id, exc_info=error)
        reason = f"{type(error).__name__}: {error}"
    reason = reason.replace(callback_token(batch_id), "[REDACTED]")
    return PheeError(
        f"the upload did not complete: {reason}", endpoint="batch upload", maybe_delivered=True
    )


# --- database: claim a chunk, then record its answers (worker thread) -------------------------


def _claim_chunk(
    factory: sessionmaker[Session], actor: User, batch_ids: list[uuid.UUID]
) -> list[_Step]:
    """Claim the chunk's sendable batches (committed), then read their files."""
    with unit_of_work(factory) as session:
        steps = _claim(session, actor, batch_ids)
    claimed = [step for step in steps if isinstance(step, _Claimed)]
    if claimed:
        _load_files(factory, actor, claimed)
    return steps


def _claim(session: Session, actor: User, batch_ids: list[uuid.UUID]) -> list[_Step]:
    """Move each sendable batch to ``sending``, conditional on the state it was read in."""
    query = select(PaymentBatch).where(PaymentBatch.id.in_(batch_ids))
    batches = {batch.id: batch for batch in session.scalars(query)}
    by_state: dict[BatchState, list[PaymentBatch]] = {}
    for batch in batches.values():
        if batch.state in SENDABLE:
            by_state.setdefault(batch.state, []).append(batch)
    moved: set[uuid.UUID] = set()
    claimed_by, now = worker_name(), utcnow()
    for state, group in by_state.items():
        attempts = {b.id: {"attempt": b.send_attempts + 1} for b in group}
        moved.update(
            move_batches(
                session,
                actor,
                [b.id for b in group],
                state,
                BatchState.SENDING,
                details=attempts,
                claimed_by=claimed_by,
                claimed_at=now,
                send_attempts=PaymentBatch.send_attempts + 1,
            )
        )
    _store_callback_hashes(session, [batches[bid] for bid in moved])
    was = {batch.id: state for state, group in by_state.items() for batch in group}
    steps: list[_Step] = []
    for batch_id in batch_ids:
        found = batches.get(batch_id)
        if found is None:
            steps.append(BatchSendResult(str(batch_id), "skipped", "no such batch"))
        elif batch_id not in moved:
            if found.state in SENDABLE:
                message = f"batch {found.name} is no longer {found.state}: someone else moved it"
            else:
                message = f"batch is {found.state}"
            steps.append(BatchSendResult(found.name, "skipped", message, found.phee_batch_id))
        else:
            # The lookup window starts at the batch's creation, before its first attempt: the
            # previous claim is only the latest attempt, and an earlier one may be the one stored.
            claimed = _Claimed(
                found.id,
                found.name,
                was[batch_id],
                found.correlation_id,
                found.created_at,
                found.file_name,
            )
            steps.append(claimed)
    return steps


def _store_callback_hashes(session: Session, batches: list[PaymentBatch]) -> None:
    """The hash of each batch's callback token, where it is not the one stored at prepare (the
    secret key changed since, or the batch was prepared before hashes were stored there), in
    one executemany UPDATE."""
    rows = []
    key = callback_key()
    for batch in batches:
        wanted = callback_token_hash(batch.id, key)
        if batch.callback_token_hash != wanted:
            rows.append({"h_id": batch.id, "h_hash": wanted})
            note_loaded_batches(session, [batch.id], {"callback_token_hash": wanted})
    if rows:
        table = PaymentBatch.__table__
        assert isinstance(table, Table)
        statement = (
            update(table)
            .where(table.c.id == bindparam("h_id"))
            .values(callback_token_hash=bindparam("h_hash"))
        )
        session.connection().execute(statement, rows)


def _load_files(factory: sessionmaker[Session], actor: User, claimed: list[_Claimed]) -> None:
    """The stored files in one read; a file not stored yet is rendered (and stored) on its own."""
    ids = [step.batch_id for step in claimed]
    with unit_of_work(factory) as session:
        stored = dict(
            session.execute(
                select(PaymentBatch.id, PaymentBatch.csv_data).where(
                    PaymentBatch.id.in_(ids),
                    PaymentBatch.csv_data.is_not(None),
                    PaymentBatch.csv_sha256.is_not(None),
                )
            )
            .tuples()
            .all()
        )
    for step in claimed:
        data = stored.get(step.batch_id)
        if data is not None:
            step.data = bytes(data)
            continue
        try:
            with unit_of_work(factory) as session:
                batch = session.get(PaymentBatch, step.batch_id)
                assert batch is not None
                step.data = batch_file(session, actor, batch).data
        except Exception as error:  # recorded as the batch's failed upload, see _attempt
            step.broken = _portable(error, step.batch_id)


def _portable(error: Exception, batch_id: uuid.UUID) -> G2PError:
    """A file that could not be read or rendered, as an error that crosses to another process
    (the send's database work may run in one): the product's own errors as they are, anything
    else logged here with its traceback and carried as its text."""
    if isinstance(error, G2PError):
        return error
    log.error("the file of batch %s could not be read", batch_id, exc_info=error)
    return G2PError(f"{type(error).__name__}: {error}")


@dataclass
class _Patience(PerSend):
    """How long a send's records wait for a lost database: once one has waited through every
    pause in vain, the later ones try once each (the database is gone; the send ends soon).
    Shared by the send's records on its thread, and by those in the worker process."""

    pauses: tuple[float, ...] = RECORD_PAUSES


def _record_chunk(
    factory: sessionmaker[Session],
    actor: User,
    done: list[_Done],
    patience: _Patience | None = None,
) -> list[BatchSendResult]:
    """Record the chunk's answers in one transaction; the results in the chunk's order.

    PHEE's answers exist only in this process until they are recorded, so a lost database is
    tried again after each of the pauses (seconds) before giving up; only then do the batches
    wait in ``sending`` for the stale-claim lookup. Each try is a whole new transaction, and a
    try that did commit although its connection broke is recognised by the next (``_record``)."""
    patience = patience or _Patience()
    answers = [item for item in done if isinstance(item, _Answer)]
    results: dict[uuid.UUID, BatchSendResult] = {}
    for pause in (*patience.pauses, None) if answers else ():
        try:
            with unit_of_work(factory) as session:
                results = _record(session, actor, answers)
            break
        except Exception as error:
            if not is_database_lost(error):
                raise
            if pause is None:
                patience.pauses = ()
                raise
            log.warning(
                "recording PHEE's answers for %d batches failed (%s); trying again in %s s",
                len(answers),
                database_problem(error),
                pause,
            )
            time.sleep(pause)
    return [results[item.claimed.batch_id] if isinstance(item, _Answer) else item for item in done]


def _record(
    session: Session, actor: User, answers: list[_Answer]
) -> dict[uuid.UUID, BatchSendResult]:
    prefer_indexes(session)
    ids = [answer.claimed.batch_id for answer in answers]
    locked = select(
        PaymentBatch.id,
        PaymentBatch.state,
        PaymentBatch.issued_count,
        PaymentBatch.issued_amount,
        PaymentBatch.phee_batch_id,
    ).where(PaymentBatch.id.in_(ids))
    current = {row[0]: row for row in session.execute(locked.with_for_update()).tuples()}
    results: dict[uuid.UUID, BatchSendResult] = {}
    moves: list[BatchMove] = []
    accepted: list[BatchMove] = []
    now = utcnow()
    for answer in answers:
        step = answer.claimed
        row = current.get(step.batch_id)
        move, result = _move_of(answer, now)
        if _recorded_before(move, answer, row):
            results[step.batch_id] = result
            continue
        if row is None or row[1] is not BatchState.SENDING:
            state = "missing" if row is None else row[1]
            message = f"batch {step.name} is no longer sending ({state}): someone else moved it"
            if answer.phee_batch_id:
                message += f"; PHEE has it as {answer.phee_batch_id}"
            results[step.batch_id] = BatchSendResult(step.name, "skipped", message)
            continue
        moves.append(move)
        results[step.batch_id] = result
        if move.target is BatchState.SUBMITTED:
            accepted.append(move)
    whole = _mark_sent(session, accepted, current)
    move_each_batch(session, actor, BatchState.SENDING, moves)
    if not whole:
        refresh_batches(session, actor, [move.batch_id for move in accepted])
    return results


def _recorded_before(move: BatchMove, answer: _Answer, row: tuple[Any, ...] | None) -> bool:
    """The batch is already where this answer moves it (submitted: under the same PHEE batch
    id): an earlier try of this record committed although its connection broke before it could
    tell."""
    if row is None or row[1] is not move.target:
        return False
    return move.target is not BatchState.SUBMITTED or row[4] == answer.phee_batch_id


def _move_of(answer: _Answer, now: datetime) -> tuple[BatchMove, BatchSendResult]:
    step = answer.claimed
    if answer.error is None:
        assert answer.phee_batch_id is not None
        move = BatchMove(
            step.batch_id,
            BatchState.SUBMITTED,
            {
                "phee_batch_id": answer.phee_batch_id,
                "submitted_at": now,
                "last_error": None,
                "last_response": answer.raw,
            },
            {"phee_batch_id": answer.phee_batch_id, "looked_up": answer.looked_up},
        )
        if answer.looked_up:
            found = "found by correlation id; not resent"
            result = BatchSendResult(step.name, "found_at_phee", found, answer.phee_batch_id)
        else:
            result = BatchSendResult(step.name, "submitted", "", answer.phee_batch_id)
        return move, result
    error = answer.error
    if answer.lookup_failed:
        message = f"still unknown: the lookup at PHEE failed: {error.message}"
        move = BatchMove(
            step.batch_id, BatchState.OUTCOME_UNKNOWN, {"last_error": message}, {"lookup": message}
        )
        return move, BatchSendResult(step.name, "outcome_unknown", message)
    # Even when nothing can have reached PHEE (connection refused) the batch is recorded as
    # unknown: the next attempt starts with a lookup, which costs one read and proves it.
    rejected = isinstance(error, PheeRejected) and not error.maybe_delivered
    target = BatchState.REJECTED if rejected else BatchState.OUTCOME_UNKNOWN
    message = f"{error.message} [{error.endpoint}, status {error.status}]"
    values = {"last_error": message, "last_response": {"status": error.status, "body": error.body}}
    log.warning("batch %s: %s", step.name, message)
    move = BatchMove(step.batch_id, target, values, {"error": message})
    return move, BatchSendResult(step.name, target.value, message)


def _mark_sent(
    session: Session, moves: list[BatchMove], current: dict[uuid.UUID, tuple[Any, ...]]
) -> bool:
    """Payments of the batches about to be ``submitted`` → sent. In the usual case every payment
    of every batch was marked (a batch can mark at most its issued count, so the total tells):
    the sent counters are the issued ones, written with the batch's move (one UPDATE per batch,
    not two). Otherwise (False) the caller recounts the batches after moving them. No batches:
    nothing is written, and True."""
    accepted = [move.batch_id for move in moves]
    marked = mark_payments_sent(session, accepted)
    if marked != sum(int(current[bid][2]) for bid in accepted):
        return False
    for move in moves:
        count, amount = current[move.batch_id][2], current[move.batch_id][3]
        move.values.update(sent_count=count, sent_amount=Decimal(amount))
    return True


def recover_stale_sending(
    session: Session, actor: User | None, older_than: timedelta = STALE_SENDING
) -> int:
    """Batches left in ``sending`` by a process that died become ``outcome_unknown`` (they may
    have reached PHEE), so that the next send looks them up first."""
    limit = utcnow() - older_than
    stale = session.scalars(
        select(PaymentBatch).where(
            PaymentBatch.state == BatchState.SENDING, PaymentBatch.claimed_at < limit
        )
    ).all()
    for batch in stale:
        message = f"left in sending by {batch.claimed_by} since {batch.claimed_at}: outcome unknown"
        set_batch_state(
            session, actor, batch, BatchState.OUTCOME_UNKNOWN, {"stale": True}, last_error=message
        )
    return len(stale)


def _callback_url(manager: PheeManager, batch_id: uuid.UUID) -> str | None:
    base = manager.settings.callback_base_url
    if not base:
        return None
    return f"{base}/phee/callback/{callback_token(batch_id)}"
