"""send_payments (SPEC 3.3, 2.3): submit batches to PHEE, never twice, never blindly.

A batch goes through three steps, because a hub call must never happen inside an open
transaction: (1) *claim* — a conditional update moves it to ``sending`` (so no other process
sends it), counts the attempt and takes a lease that this process renews while it runs,
committed before anything else; (2) the upload, outside any transaction, after the latest moment
it may start has been written (``last_attempt_at``, committed); (3) the answer is recorded:
``submitted`` (payments ``sent``), ``rejected`` (PHEE refused it; it can be sent again once
fixed) or ``outcome_unknown`` (it may have reached PHEE).

A batch in ``outcome_unknown`` is first looked up at PHEE by its correlation id: found, it is
``submitted`` without a resend (every PHEE batch under that id is read; more than one is recorded
as a duplicate at the hub). Not found, it is resent — with the same correlation id and the same
file — only when the quiet period after its latest upload has passed (``payments.resend``): a
hub may store an upload after its client gave up. A process that dies leaves its claims to lapse
(``payments.resend.release_lapsed_claims``).

The database work runs beside the uploads on one thread (``send_leases.DatabaseThread``),
set-based, several batches per transaction (``CLAIM_BATCHES`` claimed, ``RECORD_BATCHES``
recorded), while the calling thread talks to PHEE (one upload at a time): the next chunk is
claimed while this one is uploaded, and answers are recorded while the next batches are
uploaded. A batch whose answer was not recorded (the process died, or the database stayed
unreachable through every try of ``RECORD_PAUSES``) stays ``sending`` until its lease lapses.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.bulk import prefer_indexes
from g2p_payment_phee.db import database_problem, is_database_lost, unit_of_work, utcnow
from g2p_payment_phee.errors import G2PError
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.duplicates import record_duplicate_batches
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.reports import BatchSendResult, SendOutcome, SendReport
from g2p_payment_phee.payments.resend import (
    SENDABLE,
    lease_until,
    may_resend,
    not_found_yet,
    why_waiting,
)
from g2p_payment_phee.payments.service import batch_file
from g2p_payment_phee.payments.states import (
    BatchMove,
    BatchState,
    mark_payments_sent,
    move_batches,
    move_each_batch,
    note_loaded_batches,
)
from g2p_payment_phee.phee.callbacks import (
    callback_key,
    callback_token,
    callback_token_hash,
    callback_url,
)
from g2p_payment_phee.phee.client import PheeClient
from g2p_payment_phee.phee.errors import PheeError, PheeRejected
from g2p_payment_phee.phee.send_leases import DatabaseThread, LeaseKeeper
from g2p_payment_phee.phee.wire import FoundBatch
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

if TYPE_CHECKING:
    from g2p_payment_phee.phee.manager import PheeManager

log = logging.getLogger(__name__)
__all__ = ["SENDABLE", "send_batches", "worker_name"]
CLAIM_BATCHES = 25  # batches claimed per transaction
FIRST_CLAIM = 2  # the first claim is small: uploads start at once
RECORD_BATCHES = 10  # answers recorded per transaction (the last wait is for at most these)
ARM_BATCHES = 10  # batches whose upload start is written together
RECORD_PAUSES = (0.5, 1.0, 2.0, 4.0, 8.0)  # waits between tries to record, the database lost


def worker_name() -> str:
    """Who claims a batch: host and process, for people reading the batch."""
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
    last_attempt_at: datetime | None = None  # before this claim
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
    waiting: str | None = None  # not at PHEE yet, within the quiet period: not resent
    duplicates: list[str] = field(default_factory=list)  # other PHEE batches, same correlation id
    attempted_at: datetime | None = None  # an upload was made; it may have started until then


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
        with (
            DatabaseThread(factory, actor) as db,
            DatabaseThread(factory, actor, "phee-send-arm") as arms,
            LeaseKeeper(factory, worker_name()) as leases,
        ):
            for index, chunk in enumerate(chunks):
                if claiming is None:
                    claiming = db.submit(_claim_chunk, chunk)
                steps = claiming.result()
                claiming = None
                leases.hold(s.batch_id for s in steps if isinstance(s, _Claimed))
                if index + 1 < len(chunks):
                    claiming = db.submit(_claim_chunk, chunks[index + 1])
                arming = _Arming(arms, steps, leases)
                done: list[_Done] = []
                for step in steps:
                    done.append(_attempt(hub, manager, step, arming))
                    if isinstance(step, _Claimed):
                        step.data = None  # uploaded: the record needs no file (nor carries one)
                    handled += 1
                    if progress is not None:
                        progress(handled)
                    if len(done) >= RECORD_BATCHES:
                        recorded.append(_submit_record(db, leases, done, patience))
                        done = []
                recorded.append(_submit_record(db, leases, done, patience))
            for future in recorded:
                report.results.extend(future.result())
    finally:
        if claiming is not None:
            claiming.cancel()
        if own:
            hub.close()
    return report


def _submit_record(
    db: DatabaseThread, leases: LeaseKeeper, done: list[_Done], patience: _Patience
) -> Future[list[BatchSendResult]]:
    """Record the answers; once recorded, their batches' leases are no longer renewed."""
    future = db.submit(_record_chunk, done, patience)
    ids = [item.claimed.batch_id for item in done if isinstance(item, _Answer)]
    future.add_done_callback(lambda f: leases.let_go(ids) if f.exception() is None else None)
    return future


def _chunks(batch_ids: Sequence[uuid.UUID]) -> list[list[uuid.UUID]]:
    """Claim chunks: a small first one, so that uploads start at once, then CLAIM_BATCHES."""
    first = min(FIRST_CLAIM, len(batch_ids))
    rest = batch_ids[first:]
    chunks = [list(batch_ids[:first])] if first else []
    chunks += [list(rest[i : i + CLAIM_BATCHES]) for i in range(0, len(rest), CLAIM_BATCHES)]
    return chunks


class _Arming:
    """Writes, before a batch's upload starts, that it may start from now (``last_attempt_at``,
    committed): a process that dies mid-upload leaves that behind, and the batch's lapsed claim
    then becomes ``outcome_unknown`` instead of going back to ``prepared``. Batches never sent
    before are armed ``ARM_BATCHES`` at a time, the next group while this one uploads, on a
    thread of their own (so that they never wait behind a claim or a record); a batch with an
    unknown outcome is armed alone, after its lookup proved it absent."""

    def __init__(
        self, db: DatabaseThread, steps: list[_Step], leases: LeaseKeeper | None = None
    ) -> None:
        self._db = db
        self._leases = leases
        fresh = [
            s.batch_id
            for s in steps
            if isinstance(s, _Claimed) and s.was is not BatchState.OUTCOME_UNKNOWN
        ]
        self._groups = [fresh[i : i + ARM_BATCHES] for i in range(0, len(fresh), ARM_BATCHES)]
        self._group_of = {bid: n for n, group in enumerate(self._groups) for bid in group}
        self._armed: dict[int, Future[None]] = {}

    def ready(self, batch_id: uuid.UUID) -> None:
        """Return once the batch's upload may start; raise when it must not (the send's
        leases may have lapsed)."""
        if self._leases is not None:
            self._leases.check_held()
        number = self._group_of.get(batch_id)
        if number is None:
            self._db.submit(_arm, [batch_id]).result()
            return
        for ahead in (number, number + 1):
            if ahead < len(self._groups) and ahead not in self._armed:
                self._armed[ahead] = self._db.submit(_arm, self._groups[ahead])
        self._armed[number].result()


def _arm(factory: sessionmaker[Session], actor: User, batch_ids: list[uuid.UUID]) -> None:
    with unit_of_work(factory) as session:
        session.execute(
            update(PaymentBatch)
            .where(PaymentBatch.id.in_(batch_ids), PaymentBatch.state == BatchState.SENDING)
            .values(last_attempt_at=utcnow())
            .execution_options(synchronize_session=False)
        )


# --- PHEE: lookup and upload, no database ------------------------------------------------------


def _attempt(hub: PheeClient, manager: PheeManager, step: _Step, arming: _Arming) -> _Done:
    """Look an unknown outcome up; upload unless PHEE has the batch already or may still store
    an earlier upload of it."""
    if isinstance(step, BatchSendResult):
        return step
    if step.was is BatchState.OUTCOME_UNKNOWN:
        try:
            found = hub.find_batches(step.correlation_id, since=step.created_at)
        except PheeError as error:
            return _Answer(step, error=error, lookup_failed=True)
        if found:
            return _found(step, found)
        if not may_resend(step.last_attempt_at):
            return _Answer(step, waiting=not_found_yet(step.last_attempt_at))
        log.info(
            "batch %s (correlation id %s) is not at PHEE and its last upload is past the quiet "
            "period: sending it again",
            step.name,
            step.correlation_id,
        )
    try:
        if step.broken is not None:
            raise step.broken
        assert step.data is not None
        arming.ready(step.batch_id)
    except Exception as error:
        return _Answer(step, error=_upload_broke(error, step.batch_id))
    try:
        accepted = hub.upload_batch(
            file_name=step.file_name,
            csv_bytes=step.data,
            correlation_id=step.correlation_id,
            callback_url=_callback_url(manager, step.batch_id),
        )
    except PheeError as error:
        return _Answer(step, error=error, attempted_at=utcnow())
    except Exception as error:
        # Anything else (a file or header that cannot be sent, a bug) must neither leave the
        # batch claimed in ``sending`` nor stop the other batches: it is recorded as unknown,
        # so that the next attempt looks it up first.
        return _Answer(step, error=_upload_broke(error, step.batch_id), attempted_at=utcnow())
    return _Answer(step, accepted.phee_batch_id, accepted.raw, attempted_at=utcnow())


def _found(step: _Claimed, found: list[FoundBatch]) -> _Answer:
    """The batch is at PHEE (newest first in ``found``): recorded under the first one stored;
    any other is a duplicate at the hub, recorded and reported."""
    first = found[-1]
    others = [batch.phee_batch_id for batch in found[:-1]]
    if others:
        log.error(
            "batch %s: PHEE holds %d batches under correlation id %s (%s): payments may be paid "
            "twice",
            step.name,
            len(found),
            step.correlation_id,
            ", ".join(batch.phee_batch_id for batch in found),
        )
    return _Answer(step, first.phee_batch_id, first.raw, looked_up=True, duplicates=others)


def _upload_broke(error: Exception, batch_id: uuid.UUID) -> PheeError:
    """The error, as a PheeError that may have delivered, without the batch's callback token."""
    if isinstance(error, G2PError):
        reason = error.message
    else:
        log.error("sending batch %s failed unexpectedly", batch_id, exc_info=error)
        reason = f"{type(error).__name__}: {error}"
    reason = reason.replace(callback_token(batch_id), "[REDACTED]")
    return PheeError(
        _("the upload did not complete: {reason}").format(reason=reason),
        endpoint="batch upload",
        maybe_delivered=True,
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
                lease_until=lease_until(now),
                claimed_from=state,
                send_attempts=PaymentBatch.send_attempts + 1,
            )
        )
    _store_callback_hashes(session, [batches[bid] for bid in moved])
    was = {batch.id: state for state, group in by_state.items() for batch in group}
    steps: list[_Step] = []
    for batch_id in batch_ids:
        found = batches.get(batch_id)
        if found is None:
            steps.append(BatchSendResult(str(batch_id), SendOutcome.SKIPPED, "no such batch"))
        elif batch_id not in moved:
            if found.state in SENDABLE:
                message = _("batch {name} is no longer {state}: someone else moved it").format(
                    name=found.name, state=found.state
                )
            else:
                waiting = why_waiting(found)
                message = _("batch is {state}").format(state=found.state) + (
                    f": {waiting.reason}" if waiting else ""
                )
            steps.append(
                BatchSendResult(found.name, SendOutcome.SKIPPED, message, found.phee_batch_id)
            )
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
                found.last_attempt_at,
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
class _Patience:
    """How long a send's records wait for a lost database: once one has waited through every
    pause in vain, the later ones try once each (the database is gone; the send ends soon)."""

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
            message = _(
                "batch {name} is no longer sending ({state}): someone else moved it"
            ).format(name=step.name, state=state)
            if answer.phee_batch_id:
                message += _("; PHEE has it as {phee_batch_id}").format(
                    phee_batch_id=answer.phee_batch_id
                )
            results[step.batch_id] = BatchSendResult(step.name, SendOutcome.SKIPPED, message)
            continue
        moves.append(move)
        results[step.batch_id] = result
        if move.target is BatchState.SUBMITTED:
            accepted.append(move)
    # The payments' update adds them to their batches' sent counters (counters.py).
    mark_payments_sent(session, [move.batch_id for move in accepted])
    move_each_batch(session, actor, BatchState.SENDING, moves)
    for answer in answers:
        if answer.duplicates and answer.claimed.batch_id in results:
            batch = session.get(PaymentBatch, answer.claimed.batch_id)
            assert batch is not None
            record_duplicate_batches(session, actor, batch, answer.duplicates)
    return results


def _recorded_before(move: BatchMove, answer: _Answer, row: tuple[Any, ...] | None) -> bool:
    """The batch is already where this answer moves it (submitted: under the same PHEE batch
    id): an earlier try of this record committed although its connection broke before it could
    tell."""
    if row is None or row[1] is not move.target:
        return False
    return move.target is not BatchState.SUBMITTED or row[4] == answer.phee_batch_id


def _move_of(answer: _Answer, now: datetime) -> tuple[BatchMove, BatchSendResult]:
    move, result = _move_and_result(answer, now)
    # The claim ends; an upload made leaves the true latest moment it may have started, and a
    # batch not uploaded keeps the one it had before this claim (a lookup is not an upload).
    step = answer.claimed
    move.values["lease_until"] = None
    move.values["last_attempt_at"] = answer.attempted_at or step.last_attempt_at
    return move, result


def _move_and_result(answer: _Answer, now: datetime) -> tuple[BatchMove, BatchSendResult]:
    step = answer.claimed
    if answer.waiting is not None:
        move = BatchMove(
            step.batch_id,
            BatchState.OUTCOME_UNKNOWN,
            {"last_error": answer.waiting},
            {"lookup": "not found", "resent": False},
        )
        return move, BatchSendResult(step.name, SendOutcome.OUTCOME_UNKNOWN, answer.waiting)
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
            {
                "phee_batch_id": answer.phee_batch_id,
                "looked_up": answer.looked_up,
                **({"other_phee_batch_ids": answer.duplicates} if answer.duplicates else {}),
            },
        )
        if answer.looked_up:
            found = "found by correlation id; not resent"
            if answer.duplicates:
                found += (
                    f"; PHEE ALSO HOLDS IT AS {', '.join(answer.duplicates)}: "
                    "its payments may be paid twice (see status)"
                )
            result = BatchSendResult(
                step.name, SendOutcome.FOUND_AT_PHEE, found, answer.phee_batch_id
            )
        else:
            result = BatchSendResult(step.name, SendOutcome.SUBMITTED, "", answer.phee_batch_id)
        return move, result
    error = answer.error
    if answer.lookup_failed:
        message = _("still unknown: the lookup at PHEE failed: {message}").format(
            message=error.message
        )
        move = BatchMove(
            step.batch_id, BatchState.OUTCOME_UNKNOWN, {"last_error": message}, {"lookup": message}
        )
        return move, BatchSendResult(step.name, SendOutcome.OUTCOME_UNKNOWN, message)
    # Even when nothing can have reached PHEE (connection refused) the batch is recorded as
    # unknown: the next attempt starts with a lookup, which costs one read and proves it.
    rejected = isinstance(error, PheeRejected) and not error.maybe_delivered
    target = BatchState.REJECTED if rejected else BatchState.OUTCOME_UNKNOWN
    message = f"{error.message} [{error.endpoint}, status {error.status}]"
    values = {"last_error": message, "last_response": {"status": error.status, "body": error.body}}
    log.warning("batch %s: %s", step.name, message)
    move = BatchMove(step.batch_id, target, values, {"error": message})
    return move, BatchSendResult(step.name, SendOutcome(target.value), message)


def _callback_url(manager: PheeManager, batch_id: uuid.UUID) -> str | None:
    base = manager.settings.callback_base_url
    if not base:
        return None
    return callback_url(base, batch_id)
