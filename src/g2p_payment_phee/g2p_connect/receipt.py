"""Receiving a disburse request: each record accepted or rejected, everything stored in the
caller's transaction, and the answer stored with the message (docs/g2p-connect.md).

Only cheap work happens here (checks, one bulk insert), so that 10,000 records are acked
within a second; the registrants and entitlements are made by the intake job
(``g2p_connect.service.take_in``), which the entry point submits after this commits.

Idempotency: a ``message_id`` seen before gets its stored answer and nothing else happens; a
``reference_id`` already accepted from the sender is not stored again (in the same transaction
with the same content it is a replay and answered with its current status; otherwise it is
rejected as a duplicate). Unique constraints back both rules, so two concurrent identical
requests cannot both insert: the loser's transaction fails and the entry point retries it,
which then finds the winner's rows.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.bulk import bulk_insert
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import G2PError, ValidationFailed
from g2p_payment_phee.g2p_connect.addresses import BadAddress, PayeeAddress, read_payee_fa
from g2p_payment_phee.g2p_connect.answers import ack, answer_header
from g2p_payment_phee.g2p_connect.envelope import (
    Envelope,
    Refused,
    check_count,
    disbursements,
    parse_timestamp,
)
from g2p_payment_phee.g2p_connect.models import (
    G2PConnectMessage,
    G2PConnectRecord,
    G2PConnectSender,
    G2PConnectTransaction,
    ReceiptStatus,
)
from g2p_payment_phee.g2p_connect.status import RecordStatus, record_statuses
from g2p_payment_phee.ids import new_id_texts
from g2p_payment_phee.money import AmountFormat, minor_digits, validate_currency
from g2p_payment_phee.payments.config_service import load_manager
from g2p_payment_phee.payments.prepare import PrepareSpec
from g2p_payment_phee.programs.models import Cycle, ProgramState

RECORD_LIMIT = 10_000
AMOUNT = re.compile(r"[0-9]{1,13}\.[0-9]{1,2}")
CHUNK = 1000
DISBURSE_ACTIONS = frozenset({"disburse"})


@dataclass
class Receipt:
    """What a disburse request got: its answer and, when new records were accepted, the
    transaction the intake job must take into the domain."""

    answer: dict[str, Any]
    txn_id: uuid.UUID | None = None
    accepted: int = 0
    rejected: int = 0
    replayed: bool = False


@dataclass
class _Checked:
    rows: list[dict[str, Any]] = field(default_factory=list)
    replayed: list[uuid.UUID] = field(default_factory=list)  # records answered again


def stored_answer(session: Session, sender: G2PConnectSender, message_id: str) -> Receipt | None:
    """The answer a message got the first time, if it was received before."""
    stored = session.scalar(
        select(G2PConnectMessage).where(
            G2PConnectMessage.sender_id == sender.id, G2PConnectMessage.message_id == message_id
        )
    )
    if stored is None:
        return None
    return Receipt(stored.answer, replayed=True)


def receive_disburse(
    session: Session, sender: G2PConnectSender, envelope: Envelope, *, sync: bool
) -> Receipt:
    """Receive one disburse request (async: answered by an ack and later callbacks; sync:
    answered with the records' statuses). Raises Refused/Declined before storing anything."""
    replay = stored_answer(session, sender, envelope.message_id)
    if replay is not None:
        return replay
    transaction_id, items = disbursements(envelope)
    check_count(envelope, len(items), RECORD_LIMIT)
    spec = _prepare_spec(session, sender)
    message = G2PConnectMessage(
        sender_id=sender.id, message_id=envelope.message_id, action=envelope.action, answer={}
    )
    session.add(message)
    session.flush()  # the unique (sender, message_id): a concurrent twin waits here, then fails
    txn, is_new = _transaction(session, sender, envelope, transaction_id, sync=sync)
    message.txn_id = txn.id
    checked = _check_records(session, sender, txn, is_new, items, spec)
    _insert(session, sender, txn, checked.rows)
    accepted = sum(1 for r in checked.rows if r["receipt_status"] == ReceiptStatus.RECEIVED)
    rejected = len(checked.rows) - accepted
    if sync:
        answer = _sync_answer(session, sender, envelope, txn, checked)
    else:
        answer = ack("ACK", str(txn.id))
        _tell_again(session, checked.replayed)
    message.answer = answer
    audit.record(
        session,
        None,
        AuditAction.G2P_CONNECT_DISBURSE_RECEIVED,
        txn,
        {
            "sender_id": sender.sender_id,
            "transaction_id": transaction_id,
            "message_id": envelope.message_id,
            "accepted": accepted,
            "rejected": rejected,
            "replayed": len(checked.replayed),
        },
    )
    return Receipt(answer, txn.id if accepted else None, accepted, rejected)


def _tell_again(session: Session, record_ids: list[uuid.UUID]) -> None:
    """Records sent again by an async request: the next callback carries them again (the
    sender may have missed the earlier one)."""
    for start in range(0, len(record_ids), CHUNK):
        session.execute(
            update(G2PConnectRecord)
            .where(G2PConnectRecord.id.in_(record_ids[start : start + CHUNK]))
            .values(notified_status=None)
        )


def _insert(
    session: Session,
    sender: G2PConnectSender,
    txn: G2PConnectTransaction,
    rows: list[dict[str, Any]],
) -> None:
    if not rows:
        return
    columns = tuple(rows[0])
    fixed = {"sender_id": sender.id, "txn_id": txn.id, "created_at": utcnow()}
    fixed["notified_status"] = None
    bulk_insert(
        session,
        G2PConnectRecord.__table__,
        columns,
        (tuple(row.values()) for row in rows),
        fixed=fixed,
    )


def _prepare_spec(session: Session, sender: G2PConnectSender) -> PrepareSpec:
    """How the program's manager pays (payee option, amount format), asked with a cycle that
    is never stored (the spec names no cycle-specific rule we use)."""
    program = sender.program
    if program.state is not ProgramState.ACTIVE:
        raise Refused("err.service.unavailable", f"the program {program.name!r} has ended")
    probe = Cycle(name="G2P Connect", program_id=program.id, sequence=0)
    probe.program = program
    try:
        manager = load_manager(session, program)
        spec = manager.prepare_spec(session, probe)
    except G2PError as error:
        raise Refused(
            "err.service.unavailable",
            f"the program {program.name!r} cannot pay now: {error.message}",
        ) from None
    return spec


def _transaction(
    session: Session,
    sender: G2PConnectSender,
    envelope: Envelope,
    transaction_id: str,
    *,
    sync: bool,
) -> tuple[G2PConnectTransaction, bool]:
    txn = session.scalar(
        select(G2PConnectTransaction).where(
            G2PConnectTransaction.sender_id == sender.id,
            G2PConnectTransaction.transaction_id == transaction_id,
        )
    )
    if txn is not None:
        return txn, False
    txn = G2PConnectTransaction(
        sender_id=sender.id,
        sender=sender,
        transaction_id=transaction_id,
        callback_url=envelope.sender_uri,
        version=envelope.version,
        wants_callback=not sync,
    )
    session.add(txn)
    session.flush()  # unique (sender, transaction_id)
    return txn, True


def _check_records(
    session: Session,
    sender: G2PConnectSender,
    txn: G2PConnectTransaction,
    is_new: bool,
    items: list[Any],
    spec: PrepareSpec,
) -> _Checked:
    known = _accepted_before(session, sender, items)
    program_currency = sender.program.currency
    seen_refs: set[str] = set()
    payees: dict[str, str] = {}
    checked = _Checked()
    ids = iter(new_id_texts(len(items)))
    for row, item in enumerate(items):
        record = _base_row(next(ids), row, item)
        reference = record["reference_id"]
        before = known.get(reference)
        if before is not None and reference not in seen_refs:
            seen_refs.add(reference)
            if before.txn_id == txn.id and _same(before, record):
                checked.replayed.append(before.id)
                continue
            where = "in this transaction" if before.txn_id == txn.id else "in another transaction"
            _reject(record, "rjct.reference_id.duplicate", f"{reference!r} was received {where}")
        elif not isinstance(item, dict) or _reference(item.get("reference_id")) is None:
            _reject(record, "rjct.reference_id.invalid", "reference_id must be 1-99 characters")
        elif reference in seen_refs:
            _reject(record, "rjct.reference_id.duplicate", "reference_id repeats in the request")
        elif not is_new:
            _reject(
                record,
                "rjct.reference_id.invalid",
                "the transaction was received before; new records need a new transaction_id",
            )
        else:
            seen_refs.add(reference)
            _check_one(record, item, spec, program_currency, payees)
        checked.rows.append(record)
    return checked


class _Known:
    def __init__(self, row: Any) -> None:
        self.id, self.txn_id = row.id, row.txn_id
        self.payee_fa, self.amount, self.currency_code = row.payee_fa, row.amount, row.currency_code


def _accepted_before(
    session: Session, sender: G2PConnectSender, items: list[Any]
) -> dict[str, _Known]:
    good = (_reference(i.get("reference_id")) for i in items if isinstance(i, dict))
    references = sorted({r for r in good if r is not None})
    known: dict[str, _Known] = {}
    for among in _among(session, references):
        query = select(
            G2PConnectRecord.id,
            G2PConnectRecord.txn_id,
            G2PConnectRecord.reference_id,
            G2PConnectRecord.payee_fa,
            G2PConnectRecord.amount,
            G2PConnectRecord.currency_code,
        ).where(
            G2PConnectRecord.sender_id == sender.id,
            among,
            G2PConnectRecord.receipt_status == ReceiptStatus.RECEIVED,
        )
        for row in session.execute(query):
            known[row.reference_id] = _Known(row)
    return known


def _among(session: Session, references: list[str]) -> list[ColumnElement[bool]]:
    """``reference_id`` among ``references``: on PostgreSQL one array parameter (= ANY), which
    the driver binds at once; elsewhere IN lists of CHUNK (a 10,000-value IN costs more to
    send than the lookup itself)."""
    column = G2PConnectRecord.reference_id
    if not references:
        return []
    if session.get_bind().dialect.name == "postgresql":
        values = bindparam("references", references, type_=ARRAY(String()))
        return [column == any_(values)]
    return [column.in_(references[i : i + CHUNK]) for i in range(0, len(references), CHUNK)]


def _same(before: _Known, record: dict[str, Any]) -> bool:
    return (before.payee_fa, before.amount) == (record["payee_fa"], record["amount"])


def _reference(value: Any) -> str | None:
    """The reference_id, stripped, when it is 1-99 characters of text."""
    if isinstance(value, str) and 0 < len(value.strip()) <= 99:
        return value.strip()
    return None


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _base_row(record_id: str, row: int, item: Any) -> dict[str, Any]:
    fields = item if isinstance(item, dict) else {}
    reference = fields.get("reference_id")
    amount = fields.get("amount")
    currency = fields.get("currency_code")
    return {
        "id": record_id,
        "row": row,
        "reference_id": _reference(reference) or str(reference or "")[:100],
        "entitlement_id": None,
        "payee_fa": _text(fields.get("payee_fa"), 400) or "",
        "payer_fa": _text(fields.get("payer_fa"), 400),
        "payee_name": _text(fields.get("payee_name"), 300),
        "amount": str(amount)[:40] if amount is not None else "",
        "currency_code": str(currency)[:10] if currency is not None else None,
        "receipt_status": ReceiptStatus.RECEIVED.value,
        "reason_code": None,
        "reason_message": None,
    }


def _reject(record: dict[str, Any], code: str, message: str) -> None:
    record["receipt_status"] = ReceiptStatus.REJECTED.value
    record["reason_code"] = code
    record["reason_message"] = message


def _check_one(
    record: dict[str, Any],
    item: dict[str, Any],
    spec: PrepareSpec,
    program_currency: str,
    payees: dict[str, str],
) -> None:
    """Reject the record (in place) with the first problem found, or normalise it."""
    try:
        payee = read_payee_fa(item.get("payee_fa"), spec.payee.option, quick=True)
    except BadAddress as error:
        _reject(record, "rjct.payee_fa.invalid", error.reason)
        return
    problem = (
        _payer_problem(item.get("payer_fa"))
        or _payee_twice(payee, record["reference_id"], payees)
        or _amount_problem(item.get("amount"), item.get("currency_code"), program_currency, spec)
        or _schedule_problem(item.get("scheduled_timestamp"))
    )
    if problem is not None:
        _reject(record, *problem)
        return
    payees[payee.key] = record["reference_id"]
    record["currency_code"] = program_currency


def _payer_problem(payer: Any) -> tuple[str, str] | None:
    if payer is None or isinstance(payer, str):  # OpenG2P sends "" (the program pays)
        return None
    return "rjct.payer_fa.invalid", "payer_fa must be text"


def _payee_twice(
    payee: PayeeAddress, reference: str, payees: dict[str, str]
) -> tuple[str, str] | None:
    first = payees.get(payee.key)
    if first is None:
        return None
    return (
        "rjct.payee_fa.invalid",
        f"the same payee as reference {first!r}: one payment per payee in a transaction",
    )


def _amount_problem(
    amount: Any, currency: Any, program_currency: str, spec: PrepareSpec
) -> tuple[str, str] | None:
    if currency is not None:
        try:
            code = validate_currency(currency) if isinstance(currency, str) else None
        except ValidationFailed:
            code = None
        if code is None or code != currency:
            return "rjct.currency_code.invalid", f"{currency!r} is not an ISO 4217 code"
        if code != program_currency:
            return "rjct.currency_code.invalid", f"the program pays in {program_currency}"
    if not isinstance(amount, str) or not AMOUNT.fullmatch(amount):
        return "rjct.amount.invalid", 'amount must be text like "100.00" (^\\d{1,13}\\.\\d{1,2}$)'
    value = Decimal(amount)
    if value <= 0:
        return "rjct.amount.invalid", "amount must be more than 0"
    if spec.amount_format is AmountFormat.INTEGER and value != value.to_integral_value():
        return "rjct.amount.invalid", "the payment hub takes whole amounts only (.0 or .00)"
    digits = _minor_digits(program_currency)
    if value != value.quantize(Decimal(1).scaleb(-digits)):
        return "rjct.amount.invalid", f"{program_currency} has {digits} decimals"
    return None


@lru_cache(maxsize=64)
def _minor_digits(currency: str) -> int:
    return minor_digits(currency)  # babel's lookup, asked once per currency, not per record


def _schedule_problem(value: Any) -> tuple[str, str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and parse_timestamp(value) is not None:
        return None
    return "rjct.schedule_ts.invalid", "scheduled_timestamp is not an RFC 3339 date-time"


def _sync_answer(
    session: Session,
    sender: G2PConnectSender,
    envelope: Envelope,
    txn: G2PConnectTransaction,
    checked: _Checked,
) -> dict[str, Any]:
    """The records' statuses now: those stored by this request, and those it replayed."""
    session.flush()
    ids = [uuid.UUID(r["id"]) for r in checked.rows] + checked.replayed
    statuses = record_statuses(session, record_ids=ids) if ids else []
    return disburse_answer(sender, envelope.version, txn, statuses)


def disburse_answer(
    sender: G2PConnectSender, version: str, txn: G2PConnectTransaction, statuses: list[RecordStatus]
) -> dict[str, Any]:
    """A callback-shaped ``on-disburse`` answer (the sync endpoint's)."""
    return {
        "signature": None,
        "header": answer_header("on-disburse", sender.sender_id, [s.status for s in statuses]),
        "message": {
            "transaction_id": txn.transaction_id,
            "correlation_id": str(txn.id),
            "disbursements_status": [s.as_wire() for s in statuses],
        },
    }


def cycle_dates(today: date) -> tuple[date, date]:
    """A G2P Connect cycle runs from the day it is received, for 30 days."""
    return today, today + timedelta(days=30)
