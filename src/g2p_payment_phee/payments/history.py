"""A registrant's payment history: every entitlement across programs and cycles, newest cycle
first, each with every attempt to pay it and one word for how it ended.

A page costs two queries whatever the size of the registry. The entitlements come through their
registrant index (a registrant has one per cycle: a few dozen in a lifetime, sorted in memory),
ordered by the cycle's start date, then the entitlement id. Their payments come by entitlement
id: payments carry no index on the registrant (every index costs writes on a million-payment
prepare), but each payment is in one of two partial indexes on ``entitlement_id``, live ones in
``uq_payments_live_entitlement``, failed and cancelled ones in ``ix_payments_failed_entitlement``.
So they are read as a ``UNION ALL`` of the two, each part repeating its index's predicate (a
plain ``entitlement_id IN (…)`` would match neither index and read the whole table).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from g2p_payment_phee.keyset import as_date, as_uuid, page_from_rows, read_cursor
from g2p_payment_phee.pagination import DEFAULT_LIMIT, Page, check_limit
from g2p_payment_phee.payments.models import IS_FAILED, IS_LIVE, Payment, PaymentBatch
from g2p_payment_phee.payments.outcomes import Outcome
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.programs.models import Cycle, Entitlement, Program
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

# An entitlement's outcome is that of its most telling payment, in this order: one paid
# payment is what matters; a failed attempt followed by a cancelled retry still failed.
_PRECEDENCE = (
    Outcome.PAID,
    Outcome.PENDING,
    Outcome.NOT_SENT,
    Outcome.FAILED,
    Outcome.CANCELLED,
)


@dataclass(frozen=True)
class PaymentAttempt:
    """One payment of an entitlement, with the batch that carried it."""

    request_id: str
    state: PaymentState
    status: PaymentStatus | None
    amount_issued: Decimal
    amount_paid: Decimal | None
    currency: str
    created_at: datetime
    sent_at: datetime | None
    settled_at: datetime | None
    failure_reason: str | None
    phee_transaction_id: str | None
    batch_id: uuid.UUID | None
    batch_name: str | None
    batch_sequence: int | None

    @property
    def outcome(self) -> Outcome:
        """The payment's own outcome: its final status, else where it is."""
        if self.status is not None:
            return Outcome(self.status.value)
        return {
            PaymentState.SENT: Outcome.PENDING,
            PaymentState.CANCELLED: Outcome.CANCELLED,
        }.get(self.state, Outcome.NOT_SENT)


@dataclass(frozen=True)
class EntitlementHistory:
    """One entitlement of the registrant, where it belongs, and every attempt to pay it
    (oldest first)."""

    entitlement_id: uuid.UUID
    code: str
    program_id: uuid.UUID
    program_name: str
    cycle_id: uuid.UUID
    cycle_name: str
    cycle_start_date: date
    amount: Decimal
    currency: str
    state: EntitlementState
    payments: list[PaymentAttempt]

    @property
    def outcome(self) -> Outcome:
        """One word for the entitlement (see ``entitlement_outcome``)."""
        return entitlement_outcome(self.state, self.payments)

    @property
    def attempts(self) -> int:
        """How many payments were made for it (failed and cancelled ones included)."""
        return len(self.payments)


def entitlement_outcome(state: EntitlementState, payments: Sequence[PaymentAttempt]) -> Outcome:
    """``rejected`` for an entitlement rejected at approval; otherwise the first of paid,
    pending at the hub, not sent yet, failed, cancelled that one of its payments is; a
    cancelled entitlement never paid is ``cancelled``; else ``not sent yet`` (no payment yet).
    The same rules as ``payments.outcomes``, but for the not payable ones, which the history
    shows as not sent yet."""
    if state is EntitlementState.REJECTED:
        return Outcome.REJECTED
    found = {payment.outcome for payment in payments}
    for outcome in _PRECEDENCE:
        if outcome in found:
            return outcome
    return Outcome.CANCELLED if state is EntitlementState.CANCELLED else Outcome.NOT_SENT


def registrant_history(
    session: Session,
    actor: User,
    registrant_id: uuid.UUID,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[EntitlementHistory]:
    """One page of the registrant's entitlements in every program, newest cycle first (by start
    date), each with its payments and outcome: two queries."""
    authorize(actor, Permission.VIEW)
    check_limit(limit)
    page = page_from_rows(_entitlements(session, registrant_id, cursor, limit), limit, _key)
    attempts = _payments(session, [row[0].id for row in page.items])
    items = [_history(*row, attempts.get(row[0].id, [])) for row in page.items]
    return Page(items=items, next_cursor=page.next_cursor, limit=limit)


_EntitlementRow = tuple[Entitlement, str, date, uuid.UUID, str]


def _entitlements(
    session: Session, registrant_id: uuid.UUID, cursor: str | None, limit: int
) -> Sequence[_EntitlementRow]:
    query = (
        select(Entitlement, Cycle.name, Cycle.start_date, Program.id, Program.name)
        .join(Cycle, Cycle.id == Entitlement.cycle_id)
        .join(Program, Program.id == Cycle.program_id)
        .where(Entitlement.registrant_id == registrant_id)
    )
    key = read_cursor(cursor, as_date, as_uuid)
    if key is not None:
        start, last_id = key
        query = query.where(
            Cycle.start_date <= start,
            or_(
                Cycle.start_date < start, and_(Cycle.start_date == start, Entitlement.id < last_id)
            ),
        )
    query = query.order_by(Cycle.start_date.desc(), Entitlement.id.desc()).limit(limit + 1)
    return session.execute(query).tuples().all()


def _key(row: _EntitlementRow) -> list[Any]:
    return [row[2].isoformat(), str(row[0].id)]


def _payments(
    session: Session, entitlement_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[PaymentAttempt]]:
    """The payments of these entitlements, oldest first, with their batches: one query."""
    if not entitlement_ids:
        return {}
    matching = union_all(
        select(Payment).where(IS_LIVE, Payment.entitlement_id.in_(entitlement_ids)),
        select(Payment).where(IS_FAILED, Payment.entitlement_id.in_(entitlement_ids)),
    ).subquery()
    found = aliased(Payment, matching)
    query = (
        select(found, PaymentBatch.name, PaymentBatch.sequence)
        .outerjoin(PaymentBatch, PaymentBatch.id == found.batch_id)
        .order_by(found.entitlement_id, found.id)
    )
    attempts: dict[uuid.UUID, list[PaymentAttempt]] = {}
    for payment, batch_name, batch_sequence in session.execute(query):
        attempts.setdefault(payment.entitlement_id, []).append(
            _attempt(payment, batch_name, batch_sequence)
        )
    return attempts


def _attempt(
    payment: Payment, batch_name: str | None, batch_sequence: int | None
) -> PaymentAttempt:
    return PaymentAttempt(
        request_id=payment.request_id,
        state=payment.state,
        status=payment.status,
        amount_issued=payment.amount_issued,
        amount_paid=payment.amount_paid,
        currency=payment.currency,
        created_at=payment.created_at,
        sent_at=payment.sent_at,
        settled_at=payment.settled_at,
        failure_reason=payment.failure_reason,
        phee_transaction_id=payment.phee_transaction_id,
        batch_id=payment.batch_id,
        batch_name=batch_name,
        batch_sequence=batch_sequence,
    )


def _history(
    entitlement: Entitlement,
    cycle_name: str,
    cycle_start: date,
    program_id: uuid.UUID,
    program_name: str,
    payments: list[PaymentAttempt],
) -> EntitlementHistory:
    return EntitlementHistory(
        entitlement_id=entitlement.id,
        code=entitlement.code,
        program_id=program_id,
        program_name=program_name,
        cycle_id=entitlement.cycle_id,
        cycle_name=cycle_name,
        cycle_start_date=cycle_start,
        amount=entitlement.initial_amount,
        currency=entitlement.currency,
        state=entitlement.state,
        payments=payments,
    )
