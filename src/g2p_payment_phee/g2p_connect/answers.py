"""The bodies we answer with: acks, and callback-shaped answers of the sync endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.g2p_connect.status import FINAL_STATUSES, PDNG, RCVD, SUCC, wire_time
from g2p_payment_phee.ids import new_id

OUR_ID = "g2p-payment-phee"
ANSWER_VERSION = "1.0.0"


def ack(
    status: str, correlation_id: str | None = None, code: str | None = None, message: str = ""
) -> dict[str, Any]:
    """``{"message": {ack_status, timestamp, correlation_id[, error]}}``."""
    body: dict[str, Any] = {
        "ack_status": status,
        "timestamp": wire_time(utcnow()),
        "correlation_id": correlation_id or str(new_id()),
    }
    if code is not None:
        body["error"] = {"code": code, "message": message[:999]}
    return {"message": body}


def header_status(statuses: Sequence[str]) -> str:
    """A message's status from its records': ``succ`` once all are final, ``pdng`` while any
    is at the hub, else ``rcvd`` (an empty message is ``succ``)."""
    if all(status in FINAL_STATUSES for status in statuses):
        return SUCC
    return PDNG if PDNG in statuses else RCVD


def answer_header(
    action: str,
    receiver_id: str,
    statuses: Sequence[str],
    *,
    status: str | None = None,
    reason_code: str | None = None,
    reason_message: str | None = None,
) -> dict[str, Any]:
    """A callback-shaped header (``on-disburse``, ``on-status``, ``on-search``)."""
    header: dict[str, Any] = {
        "version": ANSWER_VERSION,
        "message_id": str(new_id()),
        "message_ts": wire_time(utcnow()),
        "action": action,
        "status": status or header_status(statuses),
        "total_count": len(statuses),
        "completed_count": sum(1 for s in statuses if s in FINAL_STATUSES),
        "sender_id": OUR_ID,
        "receiver_id": receiver_id,
        "is_msg_encrypted": False,
    }
    if reason_code:
        header["status_reason_code"] = reason_code
    if reason_message:
        header["status_reason_message"] = reason_message[:999]
    return header


def unauthorized(code: str, message: str) -> dict[str, Any]:
    """The body of a 401/403: ``{"errors": [{code, message}]}``."""
    return {"errors": [{"code": code, "message": message}]}
