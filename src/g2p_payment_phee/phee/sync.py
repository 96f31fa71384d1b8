"""Status sync and reconciliation (SPEC 3.4): PHEE's word on each transfer, applied in bulk.

First, every PHEE batch under the synced batches' correlation ids is looked for (``duplicates``).
Then, per submitted batch: read the summary; when it changed since the last sync (or when it last
said "finished" while payments stayed open), page through the details (outside any
transaction); then, for many batches at once (up to ``APPLY_ROWS`` transfers, on a database
thread while the next batches are read), map each transfer to its payment by
``clientCorrelationId`` and reconcile in one bulk update —
COMPLETED → paid, FAILED/REJECTED/ABORTED/EXCEPTION → failed with PHEE's reason; anything else
leaves the payment as it is. Final payments never change. Surprises (unknown ids,
other batches' ids, unknown statuses, amounts that differ from what was sent, unreadable rows,
a payment listed twice with different outcomes, an outcome contradicting a final payment) are
recorded on the batch and reported; they never stop the run and never move a payment to a
wrong final state.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import String, Table, bindparam, cast, select, update
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.bulk import prefer_indexes, raw
from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.duplicates import HubCompletion, record_hub_completions
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_batches
from g2p_payment_phee.payments.reports import BatchSyncResult, SyncReport
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentState,
    PaymentStatus,
    note_loaded_batches,
)
from g2p_payment_phee.phee.client import PheeClient
from g2p_payment_phee.phee.details import Transfer
from g2p_payment_phee.phee.duplicates import watch_duplicates
from g2p_payment_phee.phee.errors import PheeError
from g2p_payment_phee.phee.wire import BatchSummary
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

if TYPE_CHECKING:
    from g2p_payment_phee.phee.manager import PheeManager

log = logging.getLogger(__name__)
KEEP_PROBLEMS = 50
READ_BATCHES = 200  # batches whose rows are loaded together
APPLY_ROWS = 40_000  # transfers applied per transaction


def sync_batches(
    factory: sessionmaker[Session],
    actor: User | None,
    manager: PheeManager,
    batch_ids: Sequence[uuid.UUID],
    *,
    client: PheeClient | None = None,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> SyncReport:
    """Sync each submitted batch; ``force`` reads details even if the summary did not change;
    ``progress`` is told how many batches were read so far, after each.

    PHEE is read batch by batch, outside any transaction; what it says is applied for many
    batches at once (about ``APPLY_ROWS`` transfers per transaction, in a few set-based
    statements) on a database thread, while the next batches are read: at most one group is
    applied while the next one waits, so memory stays bounded whatever the hub's pace. An apply
    that fails stops the reading and is raised. ``actor`` None is the system itself (a job, a
    verified callback)."""
    if actor is not None:
        authorize(actor, Permission.VIEW)
    report = SyncReport()
    own = client is None
    hub = client or manager.client()
    try:
        report.problems.extend(watch_duplicates(factory, actor, hub, batch_ids))
        with _Applier(factory, actor) as applier:
            for start in range(0, len(batch_ids), READ_BATCHES):
                ids = list(batch_ids[start : start + READ_BATCHES])
                pending: list[_Read] = []
                for target in _targets(factory, ids):
                    if isinstance(target, BatchSyncResult):
                        report.results.append(target)
                        if progress is not None:
                            progress(len(report.results))
                        continue
                    read = _read_one(hub, target, force=force)
                    report.results.append(read.result)
                    if progress is not None:
                        progress(len(report.results))
                    if read.transfers is not None:
                        pending.append(read)
                    if sum(len(r.transfers or ()) for r in pending) >= APPLY_ROWS:
                        applier.submit(pending)
                        pending = []
                    applier.raise_failed()
                applier.submit(pending)
            applier.wait_all()
    finally:
        if own:
            hub.close()
    return report


class _Applier:
    """Groups of reads applied on one database thread, in order, while the caller reads on:
    at most one group runs and one waits (``submit`` waits for the older ones beyond that).
    Leaving the block cancels what did not start; ``wait_all`` raises a failed apply."""

    def __init__(self, factory: sessionmaker[Session], actor: User | None) -> None:
        self._factory = factory
        self._actor = actor
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="phee-sync-db")
        self._applying: list[Future[None]] = []

    def __enter__(self) -> _Applier:
        return self

    def __exit__(self, *exc: object) -> None:
        for future in self._applying:
            future.cancel()
        self._pool.shutdown(wait=True)

    def submit(self, reads: list[_Read]) -> None:
        if len(self._applying) >= 2:
            self._applying.pop(0).result()
        if reads:
            future = self._pool.submit(_apply_reads, self._factory, self._actor, reads)
            self._applying.append(future)

    def raise_failed(self) -> None:
        """An apply that already failed stops the sync now, not after the remaining reads."""
        for future in self._applying:
            if future.done():
                future.result()

    def wait_all(self) -> None:
        while self._applying:
            self._applying.pop(0).result()


@dataclass
class _Target:
    batch_id: uuid.UUID
    name: str
    phee_id: str
    seen: str | None


@dataclass
class _Read:
    """One batch's reading of PHEE, waiting to be applied (``transfers`` None: nothing to do)."""

    batch_id: uuid.UUID
    result: BatchSyncResult
    phee_id: str = ""
    transfers: list[Transfer] | None = None
    fingerprint: str | None = None
    finished: bool = False


def _targets(
    factory: sessionmaker[Session], batch_ids: list[uuid.UUID]
) -> list[_Target | BatchSyncResult]:
    """The batches to read, in the given order, loaded in one query; the others as results."""
    with unit_of_work(factory) as session:
        rows = session.execute(
            select(
                PaymentBatch.id,
                PaymentBatch.name,
                PaymentBatch.state,
                PaymentBatch.phee_batch_id,
                PaymentBatch.last_response,
            ).where(PaymentBatch.id.in_(batch_ids))
        ).tuples()
        found = {row[0]: row for row in rows}
    targets: list[_Target | BatchSyncResult] = []
    for batch_id in batch_ids:
        row = found.get(batch_id)
        if row is not None and row[2] is BatchState.COMPLETED:
            continue  # its payments are final: only watched for duplicates at the hub
        if row is None or row[2] is not BatchState.SUBMITTED or not row[3]:
            state = "missing" if row is None else row[2]
            name = str(batch_id) if row is None else row[1]
            error = _("not syncable ({state})").format(state=state)
            targets.append(BatchSyncResult(name, unchanged=True, error=error))
            continue
        seen = (row[4] or {}).get("summary")
        targets.append(_Target(batch_id, row[1], row[3], seen))
    return targets


def _read_one(hub: PheeClient, target: _Target, *, force: bool) -> _Read:
    """Summary, then (when it changed) the details: PHEE only, no database."""
    read = _Read(target.batch_id, BatchSyncResult(target.name), target.phee_id)
    try:
        summary = hub.batch_summary(target.phee_id)
        read.fingerprint = _fingerprint(summary)
        if read.fingerprint == target.seen and not force:
            read.result.unchanged = True
            return read
        read.transfers, problems = _read_details(hub, target.phee_id)
    except PheeError as error:
        read.result.error = f"{error.message} [{error.endpoint}, status {error.status}]"
        log.warning("sync of batch %s: %s", target.name, read.result.error)
        return read
    read.finished = summary.is_finished
    read.result.problems.extend(problems)
    return read


def _apply_reads(factory: sessionmaker[Session], actor: User | None, reads: list[_Read]) -> None:
    """Apply several batches' transfers in one transaction."""
    if not reads:
        return
    with unit_of_work(factory) as session:
        _apply(session, actor, reads)


def _fingerprint(summary: BatchSummary) -> str:
    """What changes when PHEE's view of the batch changes."""
    return f"{summary.total}/{summary.ongoing}/{summary.successful}/{summary.failed}"


def _read_details(hub: PheeClient, phee_id: str) -> tuple[list[Transfer], list[str]]:
    listing = hub.batch_details(phee_id)
    transfers = list(listing)
    problems = [
        _("detail page {page} row {row}: {reason}").format(page=p.page, row=p.row, reason=p.reason)
        for p in listing.problems
    ]
    return transfers, problems


def _apply(session: Session, actor: User | None, reads: list[_Read]) -> None:
    """Outcomes of every read batch → one reconcile, one refresh, one audit insert."""
    prefer_indexes(session)
    ids = [read.batch_id for read in reads]
    known = _batch_payments(session, ids)
    outcomes: list[Outcome] = []
    strays: list[HubCompletion] = []
    for read in reads:
        payments = known.get(read.batch_id, {})
        result = read.result
        strays.extend(_strays(read, payments))
        found = (_outcome(t, payments, result) for t in read.transfers or ())
        chosen = _one_per_payment([o for o in found if o is not None], result)
        result.paid = sum(1 for o in chosen if o.status is PaymentStatus.PAID)
        result.failed = len(chosen) - result.paid
        outcomes.extend(chosen)
    changed, done = reconcile_batches(session, actor, outcomes, ids)
    if strays:  # our payments completed in a PHEE batch that is not theirs
        record_hub_completions(session, actor, strays)
    completed = {batch.id for batch in done}
    states = dict(
        session.execute(select(PaymentBatch.id, PaymentBatch.state).where(PaymentBatch.id.in_(ids)))
        .tuples()
        .all()
    )
    remembered: list[tuple[uuid.UUID, dict[str, object]]] = []
    for read in reads:
        read.result.completed = states.get(read.batch_id) is BatchState.COMPLETED
        # A summary that says "finished" while payments stay open means the details lag behind
        # (or lack rows): it is not remembered, so that the next sync reads the details again.
        lagging = read.finished and not read.result.completed
        response: dict[str, object] = {
            "summary": None if lagging else read.fingerprint,
            "problems": read.result.problems[:KEEP_PROBLEMS],
        }
        remembered.append((read.batch_id, response))
    table = PaymentBatch.__table__
    assert isinstance(table, Table)
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(last_response=bindparam("b_response")),
        [{"b_id": bid, "b_response": response} for bid, response in remembered],
    )
    for bid, response in remembered:
        note_loaded_batches(session, [bid], {"last_response": response})
    audit.record_many(
        session,
        actor,
        AuditAction.BATCH_SYNCED,
        "payment_batches",
        ((read.batch_id, _synced_event(read, read.batch_id in completed)) for read in reads),
    )
    log.debug(
        "sync applied %d outcomes (%d changed) for %d batches", len(outcomes), changed, len(ids)
    )


def _synced_event(read: _Read, completed: bool) -> dict[str, object]:
    result = read.result
    return {
        "reconciled": result.paid + result.failed,
        "paid": result.paid,
        "failed": result.failed,
        "completed": completed,
        "problems": len(result.problems),
    }


def _strays(read: _Read, payments: dict[str, _Known]) -> list[HubCompletion]:
    """Completed transfers of this PHEE batch for request_ids that are not this batch's: if
    they are our payments (of another batch), the hub paid them outside their own batch."""
    found = []
    for transfer in read.transfers or ():
        key = transfer.client_correlation_id.strip().strip('"').lower()
        if key in payments or not transfer.is_completed:
            continue
        try:
            payment_id = uuid.UUID(key)
        except ValueError:
            continue
        found.append(
            HubCompletion(
                payment_id,
                read.phee_id,
                transfer.amount,
                transfer.transaction_id,
                transfer.completed_at,
            )
        )
    return found


def _one_per_payment(outcomes: list[Outcome], result: BatchSyncResult) -> list[Outcome]:
    """A payment listed twice (pages shift while PHEE writes) is applied once; listed with two
    different outcomes, it is not applied at all: nobody guesses which one is true."""
    chosen: dict[uuid.UUID, Outcome | None] = {}
    for outcome in outcomes:
        pid = outcome.payment_id
        if pid not in chosen:
            chosen[pid] = outcome
            continue
        seen = chosen[pid]
        if seen is not None and _story(seen) != _story(outcome):
            chosen[pid] = None
            result.problems.append(
                _(
                    "payment {pid}: PHEE lists it twice, {story} and {other_story}; left as is"
                ).format(pid=pid, story=_story(seen), other_story=_story(outcome))
            )
    return [outcome for outcome in chosen.values() if outcome is not None]


def _story(outcome: Outcome) -> str:
    if outcome.status is PaymentStatus.PAID:
        return _("paid {amount}").format(amount=outcome.amount_paid)
    return _("failed ({reason})").format(reason=outcome.reason)


_Known = tuple[PaymentState, PaymentStatus | None, Decimal]


_STATES = {state.value: state for state in PaymentState}
_STATUSES = {status.value: status for status in PaymentStatus}


def _batch_payments(
    session: Session, batch_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, _Known]]:
    """Each batch's payments by request_id text, read in one query. A sync of a large cycle
    reads every payment once: ids come as text (PostgreSQL casts them) and states as the stored
    strings, looked up in a table, rather than through a type conversion per value."""
    postgres = session.connection().dialect.name == "postgresql"
    query = select(
        Payment.batch_id,
        cast(Payment.id, String) if postgres else raw(Payment.id),
        raw(Payment.state),
        raw(Payment.status),
        Payment.amount_issued,
    ).where(Payment.batch_id.in_(batch_ids))
    out: dict[uuid.UUID, dict[str, _Known]] = {bid: {} for bid in batch_ids}
    states, statuses = _STATES, _STATUSES
    for bid, pid, state, status, amount in session.execute(query).tuples():
        if bid is None:
            continue
        key = pid if postgres else str(uuid.UUID(str(pid)))
        out[bid][key] = (states[state], None if status is None else statuses[status], amount)
    return out


def _outcome(
    transfer: Transfer, payments: dict[str, _Known], result: BatchSyncResult
) -> Outcome | None:
    key = transfer.client_correlation_id.strip().strip('"').lower()
    known = payments.get(key)
    if known is None:
        result.problems.append(
            _("transfer for unknown payment {client_correlation_id!r} ignored").format(
                client_correlation_id=transfer.client_correlation_id
            )
        )
        return None
    state, status, issued = known
    if not (transfer.is_completed or transfer.is_failed):
        if transfer.status not in {"IN_PROGRESS", "UNKNOWN"}:
            result.problems.append(
                _("payment {key}: status {status!r} not understood; left as is").format(
                    key=key, status=transfer.status
                )
            )
        return None
    if state is PaymentState.RECONCILED:
        if (status is PaymentStatus.PAID) != transfer.is_completed:
            result.problems.append(
                _(
                    "payment {key}: PHEE now reports {status}, but it is final as "
                    "{final_status}; left as is"
                ).format(key=key, status=transfer.status, final_status=status)
            )
        return None
    if transfer.is_failed:
        reason = transfer.error_information or f"PHEE status {transfer.status}"
        return Outcome(
            uuid.UUID(key),
            PaymentStatus.FAILED,
            reason=reason,
            transaction_id=transfer.transaction_id,
            settled_at=transfer.completed_at,
        )
    amount = transfer.amount if transfer.amount is not None else issued
    if amount != issued:
        sent = f"{issued.normalize():f}"
        result.problems.append(
            _("payment {key}: PHEE paid {amount:f}, {sent} was sent").format(
                key=key, amount=amount, sent=sent
            )
        )
    return Outcome(
        uuid.UUID(key),
        PaymentStatus.PAID,
        amount,
        transaction_id=transfer.transaction_id,
        settled_at=transfer.completed_at,
    )
