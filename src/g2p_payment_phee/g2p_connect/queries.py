"""``txn/status``, ``search`` and the 0.1 GET polling, answered from the records' statuses.

Shapes (docs/g2p-connect.md, "Status and search"): a callback-shaped body (``header`` with the
counts, ``message``). ``txn/status`` answers ``txnstatus_response.txn_status`` as a
DisburseResponse object for ``transaction_id`` and ``correlation_id``, and as a flat list of
items for ``reference_id_list`` (what OpenG2P's sender reads, as the cash-transfer bridge does).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.g2p_connect.answers import answer_header
from g2p_payment_phee.g2p_connect.envelope import Envelope, Refused
from g2p_payment_phee.g2p_connect.models import (
    G2PConnectRecord,
    G2PConnectSender,
    G2PConnectTransaction,
)
from g2p_payment_phee.g2p_connect.status import RJCT, RecordStatus, record_statuses, wire_time

SEARCH_LIMIT = 1000
UNKNOWN_TRANSACTION = (
    "rjct.transaction_id.invalid"  # extension (0.1: UKWN_TRANSACTION_ID_NOT_FOUND)
)
UNKNOWN_REFERENCE = "rjct.reference_id.invalid"
STATUS_ACTIONS = frozenset({"status", "txn_status", "txn-status", "on-disburse", "on-search"})
SEARCH_ACTIONS = frozenset({"search"})


def _transaction(
    session: Session, sender: G2PConnectSender, transaction_id: str
) -> G2PConnectTransaction | None:
    return session.scalar(
        select(G2PConnectTransaction).where(
            G2PConnectTransaction.sender_id == sender.id,
            G2PConnectTransaction.transaction_id == transaction_id,
        )
    )


def _by_correlation(
    session: Session, sender: G2PConnectSender, correlation_id: str
) -> G2PConnectTransaction | None:
    try:
        key = uuid.UUID(correlation_id)
    except ValueError:
        return None
    txn = session.get(G2PConnectTransaction, key)
    return txn if txn is not None and txn.sender_id == sender.id else None


def _records(session: Session, sender: G2PConnectSender, where: Any) -> list[RecordStatus]:
    ids = list(
        session.scalars(
            select(G2PConnectRecord.id)
            .where(G2PConnectRecord.sender_id == sender.id, where)
            .order_by(G2PConnectRecord.created_at, G2PConnectRecord.row)
            .limit(SEARCH_LIMIT)
        )
    )
    return record_statuses(session, record_ids=ids) if ids else []


def _unknown(reference: str) -> dict[str, Any]:
    return {
        "reference_id": reference,
        "timestamp": wire_time(utcnow()),
        "status": RJCT,
        "status_reason_code": UNKNOWN_REFERENCE,
        "status_reason_message": "no record with this reference_id was received",
    }


def txn_status(session: Session, sender: G2PConnectSender, envelope: Envelope) -> dict[str, Any]:
    """The answer to a ``txn/status`` request."""
    message = envelope.message
    request = message.get("txnstatus_request")
    if isinstance(request, list) and request:
        request = request[0]
    if not isinstance(request, dict):
        raise Refused("err.request.bad", "message.txnstatus_request is missing")
    kind = request.get("attribute_type", request.get("search_type"))
    value = request.get("attribute_value", request.get("search_attribute"))
    txn_type = request.get("txn_type", "disburse")
    header_code: str | None = None
    txn_status: Any
    statuses: list[str]
    if txn_type not in ("disburse", "on-disburse"):
        txn_status, statuses, header_code = [], [], UNKNOWN_TRANSACTION
    elif kind == "reference_id_list":
        references = [value] if isinstance(value, str) else value
        if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
            raise Refused("err.request.bad", "attribute_value must be a list of reference ids")
        found = {s.reference_id: s for s in _reference_statuses(session, sender, references)}
        items = [found[r].as_wire() if r in found else _unknown(r) for r in references]
        txn_status, statuses = items, [i["status"] for i in items]
    elif kind in ("transaction_id", "correlation_id"):
        if not isinstance(value, str):
            raise Refused("err.request.bad", "attribute_value must be text")
        find = _transaction if kind == "transaction_id" else _by_correlation
        txn = find(session, sender, value)
        if txn is None:
            txn_status = {"transaction_id": value, "disbursements_status": []}
            statuses, header_code = [], UNKNOWN_TRANSACTION
        else:
            found_all = record_statuses(session, txn.id)
            txn_status = {
                "transaction_id": txn.transaction_id,
                "disbursements_status": [s.as_wire() for s in found_all],
            }
            statuses = [s.status for s in found_all]
    else:
        raise Refused("err.request.bad", f"attribute_type {kind!r} is not known")
    header = answer_header(
        "on-status",
        sender.sender_id,
        statuses,
        status=RJCT if header_code else None,
        reason_code=header_code,
    )
    return {
        "signature": None,
        "header": header,
        "message": {
            "transaction_id": message.get("transaction_id"),
            "correlation_id": header["message_id"],
            "txnstatus_response": {"txn_type": "on-disburse", "txn_status": txn_status},
        },
    }


def _reference_statuses(
    session: Session, sender: G2PConnectSender, references: list[str]
) -> list[RecordStatus]:
    """The newest record of each reference (an accepted one wins over rejected repeats)."""
    wanted = sorted({r.strip() for r in references})[:SEARCH_LIMIT]
    found = _records(session, sender, G2PConnectRecord.reference_id.in_(wanted))
    best: dict[str, RecordStatus] = {}
    for status in found:
        best.setdefault(status.reference_id, status)
        if best[status.reference_id].reason_code == "rjct.reference_id.duplicate":
            best[status.reference_id] = status
    return list(best.values())


def search(session: Session, sender: G2PConnectSender, envelope: Envelope) -> dict[str, Any]:
    """The answer to a ``search`` request: per criterion, the records matching it."""
    message = envelope.message
    criteria = message.get("search_criteria", message.get("search_request"))
    if isinstance(criteria, dict):
        criteria = [criteria]
    if not isinstance(criteria, list) or not criteria:
        raise Refused("err.request.bad", "message.search_criteria is missing")
    answers = []
    statuses: list[str] = []
    for number, criterion in enumerate(criteria[:100]):
        if isinstance(criterion, dict) and isinstance(criterion.get("search_criteria"), dict):
            criterion = {**criterion["search_criteria"], **criterion}
        if not isinstance(criterion, dict):
            raise Refused("err.request.bad", f"search criterion {number} is not an object")
        found = _matching(session, sender, criterion)
        statuses.extend(s.status for s in found)
        answers.append(
            {
                "reference_id": criterion.get("reference_id", str(number)),
                "timestamp": wire_time(utcnow()),
                "status": "succ",
                "disbursements_status": [s.as_wire() for s in found],
            }
        )
    return {
        "signature": None,
        "header": answer_header("on-search", sender.sender_id, statuses),
        "message": {
            "transaction_id": message.get("transaction_id"),
            "search_response": answers,
        },
    }


def _matching(
    session: Session, sender: G2PConnectSender, criterion: dict[str, Any]
) -> list[RecordStatus]:
    kind = criterion.get("attribute_type")
    value = criterion.get("attribute_value")
    if kind == "reference_id_list" and isinstance(value, list):
        return _reference_statuses(session, sender, [v for v in value if isinstance(v, str)])
    if not isinstance(value, str) or not value.strip():
        raise Refused("err.request.bad", "attribute_value must be text")
    if kind == "payee_fa":
        where: Any = func.lower(G2PConnectRecord.payee_fa) == value.strip().lower()
    elif kind == "payer_fa":
        where = func.lower(G2PConnectRecord.payer_fa) == value.strip().lower()
    elif kind == "transaction_id":
        txn = _transaction(session, sender, value.strip())
        return record_statuses(session, txn.id) if txn is not None else []
    elif kind == "reference_id":
        where = G2PConnectRecord.reference_id == value.strip()
    else:
        raise Refused("err.request.bad", f"attribute_type {kind!r} is not known")
    return _records(session, sender, or_(where))


def poll_transaction(
    session: Session, sender: G2PConnectSender, transaction_id: str, summary_only: bool
) -> dict[str, Any]:
    """0.1 ``GET /disburse/search/{transaction_id}/{summary_only}``."""
    txn = _transaction(session, sender, transaction_id)
    found = record_statuses(session, txn.id) if txn is not None else []
    return _polled(sender, transaction_id, found, summary_only, missing=txn is None)


def poll_reference(session: Session, sender: G2PConnectSender, reference_id: str) -> dict[str, Any]:
    """0.1 ``GET /disburse/search/{reference_id}``."""
    found = _reference_statuses(session, sender, [reference_id])
    transaction_id = None
    if found:
        record = session.get(G2PConnectRecord, found[0].record_id)
        txn = session.get(G2PConnectTransaction, record.txn_id) if record is not None else None
        transaction_id = txn.transaction_id if txn is not None else None
    body = _polled(sender, transaction_id, found, False, missing=False)
    if not found:
        body["message"]["disbursements_status"] = [_unknown(reference_id)]
        body["message"]["txn_status"] = [{"reference_id": reference_id, "status": RJCT}]
    return body


def _polled(
    sender: G2PConnectSender,
    transaction_id: str | None,
    found: list[RecordStatus],
    summary_only: bool,
    *,
    missing: bool,
) -> dict[str, Any]:
    header = answer_header(
        "on-disburse",
        sender.sender_id,
        [s.status for s in found],
        status=RJCT if missing else None,
        reason_code=UNKNOWN_TRANSACTION if missing else None,
    )
    message: dict[str, Any] = {"transaction_id": transaction_id}
    if not summary_only:
        message["disbursements_status"] = [s.as_wire() for s in found]
        # OpenG2P's sender reads a flat list of {reference_id, status} (reference §7)
        message["txn_status"] = [
            {"reference_id": s.reference_id, "status": s.status} for s in found
        ]
    return {"signature": None, "header": header, "message": message}
