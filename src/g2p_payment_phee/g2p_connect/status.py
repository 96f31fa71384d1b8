"""Each received record's G2P Connect status, derived from what the domain did with it.

``rcvd`` → ``pdng`` → ``succ`` | ``rjct`` (docs/g2p-connect.md, "Statuses"):

- rejected at receipt → ``rjct`` with its receipt code;
- accepted, no payment yet, or a payment issued but not handed to the hub (or cancelled) →
  ``rcvd``;
- a payment at the hub (sent, its batch sending, submitted or of unknown outcome) → ``pdng``;
- paid → ``succ`` with the amount paid and the time it was settled;
- failed at the hub → ``rjct`` with the hub's reason as the message and an extension code
  (``rjct.payee_fa.invalid`` for "Payee Identifier not found", else ``rjct.payment.failed``);
- the entitlement rejected by an approver, cancelled or expired, or skipped by prepare as
  unpayable → ``rjct`` with an extension code saying which.

Set-based: one query for the records and one for their cycle's payments, however many.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.g2p_connect.models import (
    G2PConnectRecord,
    G2PConnectTransaction,
    ReceiptStatus,
)
from g2p_payment_phee.payments.models import Payment, PaymentBatch, UnpayableEntitlement
from g2p_payment_phee.payments.states import BatchState, PaymentState, PaymentStatus
from g2p_payment_phee.programs.models import Entitlement
from g2p_payment_phee.programs.states import EntitlementState

RCVD = "rcvd"
PDNG = "pdng"
SUCC = "succ"
RJCT = "rjct"
FINAL_STATUSES = frozenset({SUCC, RJCT})

# Extension codes (the spec has none for what happens after receipt); documented.
PAYMENT_FAILED = "rjct.payment.failed"
PAYEE_FA_INVALID = "rjct.payee_fa.invalid"
ENTITLEMENT_CODES = {
    EntitlementState.REJECTED: ("rjct.entitlement.rejected", "rejected by an approver"),
    EntitlementState.CANCELLED: ("rjct.entitlement.cancelled", "the cycle was cancelled"),
    EntitlementState.EXPIRED: ("rjct.entitlement.expired", "the entitlement expired"),
}
PAYEE_NOT_FOUND = "payee identifier not found"
AT_HUB = frozenset({BatchState.SENDING, BatchState.SUBMITTED, BatchState.OUTCOME_UNKNOWN})
CHUNK = 1000


@dataclass(frozen=True)
class RecordStatus:
    """One record's status as a DisburseResponse item carries it."""

    record_id: uuid.UUID
    reference_id: str
    status: str  # rcvd | pdng | succ | rjct
    reason_code: str | None
    reason_message: str | None
    amount: str
    currency_code: str | None
    payee_fa: str
    payer_fa: str | None
    timestamp: datetime

    def as_wire(self) -> dict[str, Any]:
        """The DisburseResponse item (v1.0 field names)."""
        item: dict[str, Any] = {
            "reference_id": self.reference_id,
            "timestamp": wire_time(self.timestamp),
            "status": self.status,
            "amount": self.amount,
            "payee_fa": self.payee_fa,
        }
        if self.payer_fa:
            item["payer_fa"] = self.payer_fa
        if self.currency_code:
            item["currency_code"] = self.currency_code
        if self.reason_code:
            item["status_reason_code"] = self.reason_code
        if self.reason_message:
            item["status_reason_message"] = self.reason_message[:999]
        return item


def wire_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and a ``Z``."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class _PaymentFacts:
    state: PaymentState
    status: PaymentStatus | None
    live: bool
    amount_paid: Decimal | None
    currency: str
    sent_at: datetime | None
    settled_at: datetime | None
    failure_reason: str | None
    batch_state: BatchState | None
    created_at: datetime


def record_statuses(
    session: Session,
    txn_id: uuid.UUID | None = None,
    *,
    record_ids: Sequence[uuid.UUID] | None = None,
) -> list[RecordStatus]:
    """The statuses of a transaction's records (in the order received), or of the given
    records (in the order received within each transaction)."""
    if (txn_id is None) == (record_ids is None):
        raise TypeError("give a transaction or record ids, not both")
    rows: list[Any] = []
    if txn_id is not None:
        rows = list(_record_rows(session, G2PConnectRecord.txn_id == txn_id))
    else:
        ids = list(record_ids or ())
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            rows.extend(_record_rows(session, G2PConnectRecord.id.in_(chunk)))
        rows.sort(key=lambda r: (str(r.txn_id), r.row))
    cycles = {r.cycle_id for r in rows if r.cycle_id is not None and r.entitlement_id is not None}
    payments = _payments(session, cycles)
    unpayable = _unpayable(session, cycles)
    return [_status(r, payments.get(r.entitlement_id), unpayable) for r in rows]


def _record_rows(session: Session, where: Any) -> Iterable[Any]:
    query = (
        select(
            G2PConnectRecord.id,
            G2PConnectRecord.txn_id,
            G2PConnectRecord.row,
            G2PConnectRecord.reference_id,
            G2PConnectRecord.receipt_status,
            G2PConnectRecord.reason_code,
            G2PConnectRecord.reason_message,
            G2PConnectRecord.amount,
            G2PConnectRecord.currency_code,
            G2PConnectRecord.payee_fa,
            G2PConnectRecord.payer_fa,
            G2PConnectRecord.created_at,
            G2PConnectRecord.entitlement_id,
            G2PConnectTransaction.cycle_id,
            Entitlement.state.label("entitlement_state"),
        )
        .join(G2PConnectTransaction, G2PConnectTransaction.id == G2PConnectRecord.txn_id)
        .outerjoin(Entitlement, Entitlement.id == G2PConnectRecord.entitlement_id)
        .where(where)
        .order_by(G2PConnectRecord.txn_id, G2PConnectRecord.row)
    )
    return session.execute(query).all()


def _payments(session: Session, cycle_ids: set[uuid.UUID]) -> dict[uuid.UUID, _PaymentFacts]:
    """Per entitlement: its live payment, else its latest failed one (cancelled ones say
    nothing: the entitlement is payable again)."""
    chosen: dict[uuid.UUID, _PaymentFacts] = {}
    if not cycle_ids:
        return chosen
    query = (
        select(
            Payment.entitlement_id,
            Payment.state,
            Payment.status,
            Payment.live,
            Payment.amount_paid,
            Payment.currency,
            Payment.sent_at,
            Payment.settled_at,
            Payment.failure_reason,
            PaymentBatch.state,
            Payment.created_at,
        )
        .outerjoin(PaymentBatch, PaymentBatch.id == Payment.batch_id)
        .where(Payment.cycle_id.in_(list(cycle_ids)), Payment.state != PaymentState.CANCELLED)
    )
    for row in session.execute(query).tuples():
        facts = _PaymentFacts(*row[1:])
        known = chosen.get(row[0])
        if known is None or _better(facts, known):
            chosen[row[0]] = facts
    return chosen


def _better(new: _PaymentFacts, known: _PaymentFacts) -> bool:
    if new.live != known.live:
        return new.live
    return new.created_at > known.created_at


def _unpayable(session: Session, cycle_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not cycle_ids:
        return {}
    query = select(UnpayableEntitlement.entitlement_id, UnpayableEntitlement.reason).where(
        UnpayableEntitlement.cycle_id.in_(list(cycle_ids))
    )
    return dict(session.execute(query).tuples().all())


def _status(
    row: Any, payment: _PaymentFacts | None, unpayable: dict[uuid.UUID, str]
) -> RecordStatus:
    def made(
        status: str,
        moment: datetime,
        code: str | None = None,
        message: str | None = None,
        amount: str | None = None,
    ) -> RecordStatus:
        return RecordStatus(
            record_id=row.id,
            reference_id=row.reference_id,
            status=status,
            reason_code=code,
            reason_message=message,
            amount=amount or row.amount,
            currency_code=row.currency_code,
            payee_fa=row.payee_fa,
            payer_fa=row.payer_fa,
            timestamp=moment,
        )

    if row.receipt_status is ReceiptStatus.REJECTED:
        return made(RJCT, row.created_at, row.reason_code, row.reason_message)
    if payment is not None:
        return _from_payment(payment, row, made)
    ended = ENTITLEMENT_CODES.get(row.entitlement_state)
    if ended is not None:
        return made(RJCT, row.created_at, *ended)
    reason = unpayable.get(row.entitlement_id) if row.entitlement_id is not None else None
    if reason is not None:
        return made(RJCT, row.created_at, PAYEE_FA_INVALID, reason)
    return made(RCVD, row.created_at)


def _from_payment(payment: _PaymentFacts, row: Any, made: Any) -> RecordStatus:
    result: RecordStatus
    if payment.status is PaymentStatus.PAID:
        paid = payment.amount_paid
        amount = None if paid is None else wire_amount(paid)
        result = made(SUCC, payment.settled_at or row.created_at, amount=amount)
    elif payment.status is PaymentStatus.FAILED:
        reason = payment.failure_reason or "the payment failed"
        code = PAYEE_FA_INVALID if PAYEE_NOT_FOUND in reason.lower() else PAYMENT_FAILED
        result = made(RJCT, payment.settled_at or row.created_at, code, reason)
    elif payment.state is PaymentState.SENT or payment.batch_state in AT_HUB:
        result = made(PDNG, payment.sent_at or row.created_at)
    else:
        result = made(RCVD, row.created_at)
    return result


def wire_amount(amount: Decimal) -> str:
    """An amount as G2P Connect writes it (``^\\d{1,13}\\.\\d{1,2}$``): two decimals."""
    return f"{amount.quantize(Decimal('0.01')):f}"
