"""The G2P Connect envelope as it arrives: parsed and checked, or refused with the spec's code.

``{signature, header, message}``; versions 0.1.x and 1.0.x; the known defects of senders and of
the spec tolerated (docs/g2p-connect.md, "What we accept"): 0.1's ``timestamp`` for
``message_ts``, timestamps without ``T`` or zone (read as UTC), ``disburemsents`` and 0.1's
``disburse_request`` for ``disbursements``. A refusal is an ``ERR`` ack (``Refused``), or a
``NACK`` for a wrong or too large ``total_count`` (``Declined``): nothing is stored for either.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

MAX_ID_LENGTH = 99
SUPPORTED_VERSION = re.compile(r"(0\.1|1\.0)(\.[0-9]+)?")
RECORD_KEYS = ("disbursements", "disburemsents", "disburse_request")
# 2024-01-31 10:00:00.123456 (OpenG2P), 2024-01-31T10:00:00Z, ...+03:00
_TIMESTAMP = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?"
)


class Refused(Exception):
    """The request fails the basic checks: answered ``ERR`` with ``code`` (``err.*``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Declined(Exception):
    """The request is well formed but refused as a whole (a wrong or too large
    ``total_count``): answered ``NACK`` (async) or ``rjct`` (sync) with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Envelope:
    """A request's header fields, its message and its signature, checked."""

    version: str
    message_id: str
    message_ts: datetime
    action: str
    sender_id: str
    sender_uri: str | None
    receiver_id: str | None
    total_count: int | None
    header: dict[str, Any]
    message: dict[str, Any]
    signature: str | None

    @property
    def legacy(self) -> bool:
        """Whether the sender speaks 0.1 (answers then use its field names too)."""
        return self.version.startswith("0.")


def parse_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ``err.request.bad``."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise Refused("err.request.bad", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Refused("err.request.bad", "the body must be a JSON object")
    return body


def read_envelope(body: dict[str, Any], actions: frozenset[str]) -> Envelope:
    """The checked envelope of a request for one of ``actions`` (the endpoint's verbs)."""
    header = body.get("header")
    message = body.get("message")
    if not isinstance(header, dict):
        raise Refused("err.request.bad", "header is missing or not an object")
    if not isinstance(message, dict):
        raise Refused("err.request.bad", "message is missing or not an object")
    version = header.get("version", "1.0.0")
    if not isinstance(version, str) or not SUPPORTED_VERSION.fullmatch(version.strip()):
        raise Refused("err.version.not_supported", f"version {version!r}: 1.0.x or 0.1.x")
    if header.get("is_msg_encrypted") is True or header.get("is_encrypted") is True:
        raise Refused("err.encryption.invalid", "encrypted messages are not accepted")
    legacy = version.startswith("0.")
    action = header.get("action")
    if action is None and legacy:
        action = next(iter(sorted(actions)))
    if not isinstance(action, str) or action not in actions:
        wanted = " or ".join(sorted(actions))
        raise Refused("err.request.bad", f"header.action {action!r}: this endpoint takes {wanted}")
    timestamp = header.get("message_ts", header.get("timestamp"))
    signature = body.get("signature")
    return Envelope(
        version=version.strip(),
        message_id=_identifier(header.get("message_id"), "header.message_id"),
        message_ts=_timestamp(timestamp, "header.message_ts"),
        action=action,
        sender_id=_identifier(header.get("sender_id"), "header.sender_id", "err.sender_id.invalid"),
        sender_uri=_sender_uri(header.get("sender_uri")),
        receiver_id=header.get("receiver_id")
        if isinstance(header.get("receiver_id"), str)
        else None,
        total_count=_total_count(header.get("total_count"), required=not legacy),
        header=header,
        message=message,
        signature=signature if isinstance(signature, str) and signature.strip() else None,
    )


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _identifier(value: Any, name: str, code: str = "err.request.bad") -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refused(code, f"{name} is missing")
    if len(value) > MAX_ID_LENGTH:
        raise Refused(code, f"{name} is longer than {MAX_ID_LENGTH} characters")
    return value.strip()


def _timestamp(value: Any, name: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise Refused("err.request.bad", f"{name} is missing")
    moment = parse_timestamp(value)
    if moment is None:
        raise Refused("err.request.bad", f"{name} {value[:40]!r} is not an RFC 3339 date-time")
    return moment


def parse_timestamp(value: str) -> datetime | None:
    """An RFC 3339 date-time, also without ``T`` or zone (then UTC); None if it is none."""
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        return None
    day, clock, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]  # Python reads at most microseconds
    zone = "+00:00" if zone is None or zone in "Zz" else zone
    if len(zone) == 5:
        zone = f"{zone[:3]}:{zone[3:]}"
    try:
        return datetime.fromisoformat(f"{day}T{clock}{fraction}{zone}").astimezone(UTC)
    except ValueError:
        return None


def _sender_uri(value: Any) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value) if isinstance(value, str) and len(value) <= 2000 else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise Refused("err.sender_uri.invalid", "header.sender_uri must be an http(s) URL")
    return str(value)


def _total_count(value: Any, *, required: bool) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Declined("rjct.total_count.invalid", "header.total_count must be a whole number")
    return int(value)


def disbursements(envelope: Envelope) -> tuple[str, list[Any]]:
    """The disburse message's ``transaction_id`` and its records (any known spelling)."""
    message = envelope.message
    transaction_id = _identifier(message.get("transaction_id"), "message.transaction_id")
    for key in RECORD_KEYS:
        if key in message:
            records = message[key]
            if not isinstance(records, list):
                raise Refused("err.request.bad", f"message.{key} must be a list")
            return transaction_id, records
    raise Refused("err.request.bad", "message.disbursements is missing")


def check_count(envelope: Envelope, count: int, limit: int) -> None:
    """``total_count`` must be the number of records, and within the limit."""
    stated = envelope.total_count
    if stated is not None and stated != count:
        raise Declined(
            "rjct.total_count.invalid",
            f"header.total_count is {stated} but the message holds {count} records",
        )
    if count > limit:
        raise Declined("rjct.total_count.limit_exceeded", f"at most {limit} records in one request")
