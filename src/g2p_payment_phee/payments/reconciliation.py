"""The reconciliation of a cycle: one row per beneficiary (entitlement) with what became of it,
read a page at a time, and the figures that sum it up.

Each row's outcome follows the rules of :mod:`payments.outcomes`, so that the rows counted by
outcome give ``cycle_outcomes``' people:

- a rejected or cancelled entitlement: ``rejected`` / ``cancelled``;
- an approved one with a live payment: that payment's state (paid; sent → pending at the hub;
  issued → not sent yet);
- else, the latest prepare could not pay it (``unpayable_entitlements``): ``not_payable``, with
  the reason;
- else, one of its payments failed: ``failed``, with the last failure's reason;
- else, its payments were all cancelled: ``cancelled``;
- else (no payment yet): ``not_sent``.

Entitlements still in draft or waiting for approval (and expired ones) have no outcome: they
are not in the rows, and :class:`ReconciliationSummary` says how many were left out.

Rows are read in pages of entitlements by state, then id (the ``(cycle_id, state, id)``
index): one query per page for the entitlements with their registrant, live payment, its batch
and any unpayable reason, one more for the page's payments that are no longer live (failed and
cancelled attempts). Memory stays bounded whatever the cycle's size.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments.models import (
    IS_FAILED,
    IS_LIVE,
    Payment,
    PaymentBatch,
    UnpayableEntitlement,
)
from g2p_payment_phee.payments.outcomes import CycleOutcomes, Outcome, cycle_outcomes
from g2p_payment_phee.payments.states import BatchState, PaymentState, PaymentStatus
from g2p_payment_phee.programs.models import Cycle, Entitlement
from g2p_payment_phee.programs.service import cycle_totals
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.registry.models import Registrant
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

PAGE_SIZE = 5_000
# the entitlements that have an outcome, in the order the rows list them
REPORTED_STATES = (EntitlementState.APPROVED, EntitlementState.REJECTED, EntitlementState.CANCELLED)
_LIVE_OUTCOMES = {
    PaymentState.ISSUED: Outcome.NOT_SENT,
    PaymentState.SENT: Outcome.PENDING,
    PaymentState.RECONCILED: Outcome.PAID,  # a live reconciled payment is a paid one
}


class ReconciliationRow(NamedTuple):
    """One beneficiary of the cycle. The payee, batch and transaction are those of the live
    payment or, without one, of the last failed attempt; ``attempts`` counts payments made
    (cancelled ones are not attempts); ``reason`` is the last failure's, or why the
    entitlement could not be paid."""

    reference: str
    name: str
    entitlement: str
    payee_id_type: str | None
    payee_id_value: str | None
    amount_approved: Decimal
    outcome: Outcome
    amount_paid: Decimal | None
    paid_at: datetime | None
    batch_sequence: int | None
    phee_batch_id: str | None
    phee_transaction_id: str | None
    attempts: int
    reason: str | None


@dataclass(frozen=True)
class BatchLine:
    """One batch of the cycle, by its counters."""

    sequence: int
    state: BatchState
    phee_batch_id: str | None
    payments: int
    amount: Decimal
    paid: int
    paid_amount: Decimal
    failed: int
    failed_amount: Decimal


@dataclass(frozen=True)
class ReconciliationSummary:
    """People and money by outcome (with the attempts apart), the batches, and how many
    entitlements have no outcome yet (draft, waiting for approval, expired): not in the rows."""

    outcomes: CycleOutcomes
    batches: list[BatchLine]
    left_out: dict[EntitlementState, int]

    @property
    def rows(self) -> int:
        """How many rows the report has: one per entitlement with an outcome."""
        return sum(people.count for people in self.outcomes.people.values())


def reconciliation_summary(
    session: Session, actor: User, cycle: Cycle, *, reasons: int = 10
) -> ReconciliationSummary:
    """The cycle's outcomes (``cycle_outcomes``), its batches in sequence order, and the
    entitlements left out of the rows."""
    outcomes = cycle_outcomes(session, actor, cycle, reasons=reasons)
    b = PaymentBatch
    batches = [
        BatchLine(*row)
        for row in session.execute(
            select(
                b.sequence,
                b.state,
                b.phee_batch_id,
                b.issued_count,
                b.issued_amount,
                b.paid_count,
                b.paid_amount,
                b.failed_count,
                b.failed_amount,
            )
            .where(b.cycle_id == cycle.id)
            .order_by(b.sequence)
        ).tuples()
    ]
    counts = cycle_totals(session, cycle).counts
    left_out = {s: n for s, n in counts.items() if s not in REPORTED_STATES and n}
    return ReconciliationSummary(outcomes, batches, left_out)


def reconciliation_rows(
    session: Session, actor: User, cycle: Cycle, *, page_size: int = PAGE_SIZE
) -> Iterator[ReconciliationRow]:
    """Every entitlement of the cycle that has an outcome, one row each: approved ones first,
    then rejected, then cancelled, each in id order."""
    authorize(actor, Permission.VIEW)
    for state in REPORTED_STATES:
        after: uuid.UUID | None = None
        while True:
            page = _page(session, cycle.id, state, after, page_size)
            if not page:
                break
            attempts = _attempts(session, [row.eid for row in page])
            for row in page:
                yield _row(row, attempts.get(row.eid))
            if len(page) < page_size:
                break
            after = page[-1].eid


def _page(
    session: Session,
    cycle_id: uuid.UUID,
    state: EntitlementState,
    after: uuid.UUID | None,
    size: int,
) -> Sequence[Any]:
    e, p, b, u = Entitlement, Payment, PaymentBatch, UnpayableEntitlement
    statement = (
        select(
            e.id.label("eid"),
            e.code,
            e.state,
            e.initial_amount,
            Registrant.reference,
            Registrant.name,
            p.state.label("payment_state"),
            p.payee_id_type,
            p.payee_id_value,
            p.amount_paid,
            p.settled_at,
            p.phee_transaction_id,
            b.sequence,
            b.phee_batch_id,
            u.reason.label("unpayable"),
        )
        .join(Registrant, Registrant.id == e.registrant_id)
        # the live payment: at most one per entitlement (a unique partial index), the very
        # predicate of which is repeated so that SQLite uses it
        .outerjoin(p, and_(p.entitlement_id == e.id, IS_LIVE))
        .outerjoin(b, b.id == p.batch_id)
        .outerjoin(u, u.entitlement_id == e.id)
        .where(e.cycle_id == cycle_id, e.state == state)
        .order_by(e.id)
        .limit(size)
    )
    if after is not None:
        statement = statement.where(e.id > after)
    return session.execute(statement).all()


class _Attempts:
    """An entitlement's payments that are no longer live: how many failed, the last failure."""

    __slots__ = ("cancelled", "failed", "last")

    def __init__(self) -> None:
        self.failed = 0
        self.cancelled = 0
        self.last: Any = None  # the last failed payment's row


def _attempts(session: Session, entitlement_ids: list[uuid.UUID]) -> dict[uuid.UUID, _Attempts]:
    p, b = Payment, PaymentBatch
    rows = session.execute(
        select(
            p.entitlement_id,
            p.status,
            p.payee_id_type,
            p.payee_id_value,
            p.failure_reason,
            p.phee_transaction_id,
            b.sequence,
            b.phee_batch_id,
        )
        .outerjoin(b, b.id == p.batch_id)
        # by the partial index of payments no longer live (the entitlements are the cycle's)
        .where(p.entitlement_id.in_(entitlement_ids), IS_FAILED)
        # payments' ids are time-ordered: the last failed one comes last
        .order_by(p.entitlement_id, p.id)
    )
    found: dict[uuid.UUID, _Attempts] = {}
    for row in rows:
        seen = found.get(row.entitlement_id)
        if seen is None:
            seen = found[row.entitlement_id] = _Attempts()
        if row.status == PaymentStatus.FAILED:
            seen.failed += 1
            seen.last = row
        else:
            seen.cancelled += 1
    return found


def _row(row: Any, tried: _Attempts | None) -> ReconciliationRow:
    failed = tried.failed if tried else 0
    last = tried.last if tried else None
    outcome = _outcome(row, tried)
    live = row.payment_state is not None
    shown = row if live else last  # whose payee, batch and transaction the row shows
    reason = last.failure_reason if last is not None else None
    if outcome is Outcome.NOT_PAYABLE:
        reason = row.unpayable
    return ReconciliationRow(
        row.reference,
        row.name,
        row.code,
        shown.payee_id_type if shown is not None else None,
        shown.payee_id_value if shown is not None else None,
        row.initial_amount,
        outcome,
        row.amount_paid if outcome is Outcome.PAID else None,
        row.settled_at if outcome is Outcome.PAID else None,
        shown.sequence if shown is not None else None,
        shown.phee_batch_id if shown is not None else None,
        shown.phee_transaction_id if shown is not None else None,
        failed + (1 if live else 0),
        reason,
    )


def _outcome(row: Any, tried: _Attempts | None) -> Outcome:
    """The outcome rules of ``payments.outcomes``, for one entitlement."""
    if row.state == EntitlementState.REJECTED:
        return Outcome.REJECTED
    if row.state == EntitlementState.CANCELLED:
        return Outcome.CANCELLED
    if row.payment_state is not None:
        return _LIVE_OUTCOMES[PaymentState(row.payment_state)]
    if row.unpayable is not None:
        return Outcome.NOT_PAYABLE
    if tried is not None and tried.failed:
        return Outcome.FAILED
    if tried is not None and tried.cancelled:
        return Outcome.CANCELLED
    return Outcome.NOT_SENT


class EntitlementOutcome(NamedTuple):
    """An entitlement's outcome for a list: the word, attempts made, why not paid."""

    outcome: Outcome | None  # None: not approved yet (draft, pending validation, expired)
    attempts: int
    reason: str | None


def outcomes_of(
    session: Session, entitlements: Sequence[Entitlement]
) -> dict[uuid.UUID, EntitlementOutcome]:
    """The outcome of each of a page of entitlements (the rules of ``payments.outcomes``), in
    two queries whatever the page's size."""
    ids = [e.id for e in entitlements]
    if not ids:
        return {}
    p, u = Payment, UnpayableEntitlement
    rows = session.execute(
        select(
            Entitlement.id.label("eid"),
            Entitlement.state,
            p.state.label("payment_state"),
            u.reason.label("unpayable"),
        )
        .outerjoin(p, and_(p.entitlement_id == Entitlement.id, IS_LIVE))
        .outerjoin(u, u.entitlement_id == Entitlement.id)
        .where(Entitlement.id.in_(ids))
    ).all()
    tried = _attempts(session, ids)
    found: dict[uuid.UUID, EntitlementOutcome] = {}
    for row in rows:
        if row.state not in REPORTED_STATES:
            found[row.eid] = EntitlementOutcome(None, 0, None)
            continue
        mine = tried.get(row.eid)
        outcome = _outcome(row, mine)
        reason = mine.last.failure_reason if mine is not None and mine.last is not None else None
        if outcome is Outcome.NOT_PAYABLE:
            reason = row.unpayable
        attempts = (mine.failed if mine else 0) + (1 if row.payment_state is not None else 0)
        shown = reason if outcome in (Outcome.FAILED, Outcome.NOT_PAYABLE) else None
        found[row.eid] = EntitlementOutcome(outcome, attempts, shown)
    return found
