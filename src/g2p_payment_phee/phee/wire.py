"""What PHEE answers, read defensively (SPEC 5.2–5.4, phee-api.md 3.4, 6, 13).

Every generation of field names is read (``successful``/``completed``, ``totalAmount``/
``total_amount``, ``batchId``/``batch_id``...).  JSON numbers become ``int`` or ``Decimal``,
never ``float``.  A whole answer that cannot be used raises :class:`PheeProtocolError`;
transfer rows are read in :mod:`.details`, where a single bad row is reported, never raised.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from g2p_payment_phee.phee.errors import (
    PheeProtocolError,
    Redactor,
    describe_request,
    response_body,
)

__all__ = [
    "BatchSummary",
    "FoundBatch",
    "UploadAccepted",
    "as_text",
    "decode_json",
    "first_value",
    "list_rows",
    "match_batch",
    "parse_amount",
    "parse_summary",
    "parse_timestamp",
    "parse_upload_answer",
    "protocol_error",
    "row_correlation_ids",
]

_JAVA_DATE = "%a %b %d %H:%M:%S %Z %Y"  # java.util.Date.toString(), e.g. "Mon Jul 15 ... UTC 2024"


@dataclass(frozen=True, slots=True)
class UploadAccepted:
    """The hub took the batch.  ``polling_path`` is None for the 2022 ``200 queued`` answer."""

    phee_batch_id: str
    polling_path: str | None
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """``GET {status}/{id}``: counts and amounts of one batch.

    ``status`` is PHEE's text and is *not* trusted (it reads "Failed" while a batch runs);
    use :attr:`is_finished`.  Amounts are None when the hub did not send them.
    """

    batch_id: str | None
    request_id: str | None
    total: int
    ongoing: int
    successful: int
    failed: int
    total_amount: Decimal | None
    successful_amount: Decimal | None
    failed_amount: Decimal | None
    pending_amount: Decimal | None
    status: str | None
    raw: dict[str, Any]

    @property
    def is_finished(self) -> bool:
        """Nothing ongoing and every transfer counted as successful or failed."""
        return self.ongoing == 0 and self.total > 0 and self.successful + self.failed >= self.total


@dataclass(frozen=True, slots=True)
class FoundBatch:
    """A batch found in the ops batch list by its correlation id."""

    phee_batch_id: str
    correlation_id: str
    total: int | None
    status: str | None
    started_at: datetime | None
    raw: dict[str, Any]


# --- decoding -------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number PHEE may send")


_JSON = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def decode_json(response: httpx.Response, redact: Redactor, what: str) -> Any:
    """The JSON body with ``Decimal`` for every fraction; PheeProtocolError when not JSON."""
    try:
        return _JSON.decode(_body_text(response))
    except (ValueError, UnicodeDecodeError) as error:
        reason = f"not JSON ({error})"
    raise protocol_error(response, redact, what, reason)


def _body_text(response: httpx.Response) -> str:
    """The body as ``response.text`` reads it: in the charset the answer declares, else UTF-8
    (JSON's own encoding) with undecodable bytes replaced. Without a declared charset it is
    decoded directly, sparing the Content-Type parse on every answer."""
    declared = response.headers.get("content-type", "")
    if "charset" in declared.lower():
        return response.text
    return response.content.decode("utf-8", errors="replace")


def protocol_error(
    response: httpx.Response, redact: Redactor, what: str, reason: str
) -> PheeProtocolError:
    """A 2xx answer the client cannot use; the request was delivered."""
    endpoint = describe_request(response.request)
    body = response_body(response, redact)
    message = f"PHEE {what}: {endpoint} answered {response.status_code} but {reason}"
    return PheeProtocolError(
        message, endpoint=endpoint, status=response.status_code, body=body, maybe_delivered=True
    )


def first_value(data: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` that ``data`` holds with a non-null value (field generations)."""
    for name in names:
        value = data.get(name)
        if value is not None:
            return value
    return None


def as_text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _count(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a count")
    number = Decimal(str(value).strip()) if isinstance(value, (str, int, Decimal)) else None
    if number is None or not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a count")
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    return int(number)


def parse_amount(value: Any) -> Decimal | None:
    """PHEE amounts: JSON numbers or strings ("100"); None when absent; ValueError when bad."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ValueError(f"amount {value!r} is not a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"amount {value!r} is not a number") from None
    if not amount.is_finite():
        raise ValueError(f"amount {value!r} is not a number")
    return amount


def parse_timestamp(value: Any) -> datetime | None:
    """Epoch milliseconds (number or digits) or ISO-8601 text (naive means UTC), as UTC.

    Also reads Java's ``Date.toString()`` in UTC/GMT.  None when absent; ValueError when bad.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, (int, Decimal)):
        return _from_millis(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time")
    return _from_text(value.strip())


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _from_millis(value: int | Decimal) -> datetime:
    if type(value) is int and -(10**14) < value < 10**14:  # the usual case: exact, and fast
        return _EPOCH + timedelta(milliseconds=value)
    try:
        millis = Decimal(value)
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=float(millis))
    except (OverflowError, InvalidOperation, ValueError):
        raise ValueError(f"{value!r} is not a time in epoch milliseconds") from None


def _from_text(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.strptime(text, _JAVA_DATE)
        except ValueError:
            raise ValueError(f"{text!r} is neither epoch milliseconds nor an ISO time") from None
        if text.split()[-2] not in ("UTC", "GMT"):
            raise ValueError(f"{text!r} has a time zone other than UTC") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# --- upload ---------------------------------------------------------------------------------


def parse_upload_answer(response: httpx.Response, redact: Redactor) -> UploadAccepted:
    """202 ``{"PollingPath": ".../<id>"}`` or the 2022 200 ``{"batch_id": ...}``."""
    data = decode_json(response, redact, "batch upload")
    if not isinstance(data, dict):
        raise protocol_error(response, redact, "batch upload", "the answer is not an object")
    polling = as_text(data.get("PollingPath"))
    if polling:
        batch_id = polling.rsplit("/", 1)[-1]
        if batch_id:
            return UploadAccepted(batch_id, polling, data)
    legacy = as_text(first_value(data, "batch_id", "batchId"))
    if legacy:
        return UploadAccepted(legacy, None, data)
    reason = "the answer has neither a PollingPath nor a batch_id"
    raise protocol_error(response, redact, "batch upload", reason)


# --- summary --------------------------------------------------------------------------------

_COUNTS = {
    "total": ("total", "totalTransactions"),
    "ongoing": ("ongoing",),
    "successful": ("successful", "completed"),
    "failed": ("failed",),
}
_AMOUNTS = {
    "total_amount": ("totalAmount", "total_amount"),
    "successful_amount": ("successfulAmount", "completedAmount", "completed_amount"),
    "failed_amount": ("failedAmount", "failed_amount"),
    "pending_amount": ("pendingAmount", "ongoingAmount", "ongoing_amount"),
}


def parse_summary(response: httpx.Response, redact: Redactor) -> BatchSummary:
    """A batch summary of any field-name generation; counts must all be present."""
    data = decode_json(response, redact, "batch summary")
    if not isinstance(data, dict):
        raise protocol_error(response, redact, "batch summary", "the answer is not an object")
    missing = [names[0] for names in _COUNTS.values() if first_value(data, *names) is None]
    if missing:
        reason = f"the summary lacks {', '.join(missing)}"
        raise protocol_error(response, redact, "batch summary", reason)
    try:
        counts = {field: _count(first_value(data, *names)) for field, names in _COUNTS.items()}
        amounts = {
            field: parse_amount(first_value(data, *names)) for field, names in _AMOUNTS.items()
        }
    except (ValueError, TypeError) as error:
        raise protocol_error(response, redact, "batch summary", str(error)) from None
    return BatchSummary(
        batch_id=as_text(first_value(data, "batchId", "batch_id")),
        request_id=as_text(first_value(data, "requestId", "request_id", "correlationId")),
        total=counts["total"],
        ongoing=counts["ongoing"],
        successful=counts["successful"],
        failed=counts["failed"],
        total_amount=amounts["total_amount"],
        successful_amount=amounts["successful_amount"],
        failed_amount=amounts["failed_amount"],
        pending_amount=amounts["pending_amount"],
        status=as_text(data.get("status")),
        raw=data,
    )


# --- batch list -----------------------------------------------------------------------------

_CORRELATION_KEYS = ("requestId", "correlationId", "X-CorrelationID", "request_id")


def list_rows(
    response: httpx.Response, redact: Redactor
) -> tuple[list[dict[str, Any]], int, int | None]:
    """``/batches``: (readable rows, count of unreadable rows, totalBatches or None)."""
    data = decode_json(response, redact, "batch list")
    rows = data.get("data") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise protocol_error(response, redact, "batch list", "it has no data[] list")
    readable = [
        row
        for row in rows
        if isinstance(row, dict)
        and any(as_text(row.get(key)) for key in _CORRELATION_KEYS)
        and as_text(first_value(row, "batchId", "batch_id"))
    ]
    total = data.get("totalBatches")
    known_total = total if isinstance(total, int) and not isinstance(total, bool) else None
    return readable, len(rows) - len(readable), known_total


def row_correlation_ids(row: dict[str, Any]) -> set[str]:
    """The correlation ids a batch-list row carries (PHEE names the field differently across
    versions)."""
    return {(as_text(row.get(key)) or "").strip('"') for key in _CORRELATION_KEYS} - {""}


def match_batch(row: dict[str, Any], correlation_id: str) -> FoundBatch | None:
    """The row as a FoundBatch when one of its correlation fields is ``correlation_id``."""
    if correlation_id not in row_correlation_ids(row):
        return None
    try:
        started = parse_timestamp(row.get("startedAt"))
    except ValueError:
        started = None
    try:
        total: int | None = _count(first_value(row, "totalTransactions", "total"))
    except (ValueError, TypeError):
        total = None
    return FoundBatch(
        phee_batch_id=str(as_text(first_value(row, "batchId", "batch_id"))),
        correlation_id=correlation_id,
        total=total,
        status=as_text(row.get("status")),
        started_at=started,
        raw=row,
    )
