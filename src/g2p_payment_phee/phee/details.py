"""The transfers of a batch (``/batch/detail``, SPEC 5.3): rows read one by one, never fatally.

A page that cannot be read raises a PheeError; a single bad row never does: it becomes a
:class:`DetailProblem` and, when it still names its payment, a :class:`Transfer` with the bad
field left empty.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from g2p_payment_phee.i18n import _
from g2p_payment_phee.phee.errors import PheeProtocolError, Redactor
from g2p_payment_phee.phee.wire import (
    as_text,
    decode_json,
    first_value,
    parse_amount,
    parse_timestamp,
    protocol_error,
)

__all__ = [
    "FAILED_STATUSES",
    "DetailPage",
    "DetailProblem",
    "Transfer",
    "TransferListing",
    "parse_detail_page",
]

#: Transfer statuses that mean the payment failed for good (SPEC 3.4).
FAILED_STATUSES = frozenset({"FAILED", "REJECTED", "ABORTED", "EXCEPTION"})


@dataclass(frozen=True, slots=True)
class Transfer:
    """One row of ``/batch/detail``: a payment's fate at the hub.

    ``client_correlation_id`` is our payment's request_id (quotes stripped); ``status`` is
    upper-cased and may be any text (``UNKNOWN`` when the hub sent none).  ``amount`` and
    ``completed_at`` are None when absent or unreadable; an unreadable value is also reported
    as a :class:`DetailProblem`.
    """

    client_correlation_id: str
    status: str
    amount: Decimal | None
    currency: str | None
    transaction_id: str | None
    error_information: str | None
    completed_at: datetime | None
    batch_id: str | None

    @property
    def is_completed(self) -> bool:
        """PHEE paid it."""
        return self.status == "COMPLETED"

    @property
    def is_failed(self) -> bool:
        """PHEE failed it for good (FAILED, REJECTED, ABORTED, EXCEPTION)."""
        return self.status in FAILED_STATUSES


@dataclass(frozen=True, slots=True)
class DetailProblem:
    """A detail row that was unreadable, in part or whole.

    ``client_correlation_id`` is set when the row still produced a :class:`Transfer` (with the
    bad field as None or ``UNKNOWN``); None when the row was skipped.
    """

    page: int
    row: int
    client_correlation_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class DetailPage:
    """One parsed page of ``/batch/detail``."""

    transfers: list[Transfer]
    problems: list[DetailProblem]
    is_last: bool


def parse_detail_page(
    response: httpx.Response, redact: Redactor, page: int, page_size: int
) -> DetailPage:
    """One Spring page of transfers; bad rows become problems, never exceptions."""
    data = decode_json(response, redact, "batch details")
    content = data.get("content") if isinstance(data, dict) else None
    if not isinstance(content, list):
        raise protocol_error(response, redact, "batch details", "it has no content[] list")
    transfers: list[Transfer] = []
    problems: list[DetailProblem] = []
    for index, row in enumerate(content):
        transfer = _transfer(row, page, index, problems)
        if transfer is not None:
            transfers.append(transfer)
    return DetailPage(transfers, problems, _is_last(data, page, len(content), page_size))


def _is_last(data: dict[str, Any], page: int, rows: int, page_size: int) -> bool:
    if rows == 0 or data.get("last") is True:
        return True
    total_pages = data.get("totalPages")
    if isinstance(total_pages, int) and not isinstance(total_pages, bool):
        return page + 1 >= total_pages
    if data.get("last") is False:
        return False
    return rows < page_size


def _transfer(row: Any, page: int, index: int, problems: list[DetailProblem]) -> Transfer | None:
    if not isinstance(row, dict):
        problems.append(DetailProblem(page, index, None, "the row is not a JSON object"))
        return None
    raw_id = as_text(first_value(row, "clientCorrelationId", "client_correlation_id"))
    correlation_id = raw_id.strip().strip('"').strip() if raw_id else ""
    if not correlation_id:
        problems.append(DetailProblem(page, index, None, "the row has no clientCorrelationId"))
        return None

    def note(reason: str) -> None:
        problems.append(DetailProblem(page, index, correlation_id, reason))

    status = as_text(row.get("status"))
    if status is None:
        note("the row has no status; read as UNKNOWN")
    return Transfer(
        client_correlation_id=correlation_id,
        status=(status or "UNKNOWN").upper(),
        amount=_field(parse_amount, row.get("amount"), note),
        currency=as_text(row.get("currency")),
        transaction_id=as_text(row.get("transactionId")),
        error_information=_error_text(row.get("errorInformation")),
        completed_at=_field(parse_timestamp, row.get("completedAt"), note),
        batch_id=as_text(row.get("batchId")),
    )


def _field(parse: Any, value: Any, note: Any) -> Any:
    try:
        return parse(value)
    except ValueError as error:
        note(str(error))
        return None


def _error_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    return json.dumps(value, default=str)


class TransferListing(Iterator[Transfer]):
    """All transfers of a batch, read page by page as the caller iterates.

    Yields a :class:`Transfer` for every row that has a ``clientCorrelationId``.  Rows that
    are unreadable in part or whole are appended to :attr:`problems` as they are met (a row
    with a bad ``amount`` or ``completedAt`` is still yielded, with that field None).  A page
    that cannot be read at all raises the typed PheeError from ``next()``; :attr:`complete`
    is True only once the last page was read.
    """

    def __init__(
        self, fetch_page: Callable[[int], DetailPage], *, max_pages: int, endpoint: str
    ) -> None:
        self.problems: list[DetailProblem] = []
        self.pages_read = 0
        self.complete = False
        self._fetch_page = fetch_page
        self._max_pages = max_pages
        self._endpoint = endpoint
        self._rows = self._read()

    def __next__(self) -> Transfer:
        return next(self._rows)

    def __iter__(self) -> TransferListing:
        return self

    def _read(self) -> Iterator[Transfer]:
        for page in range(self._max_pages):
            result = self._fetch_page(page)
            self.pages_read += 1
            self.problems.extend(result.problems)
            yield from result.transfers
            if result.is_last:
                self.complete = True
                return
        raise PheeProtocolError(
            _("PHEE batch details did not end within {max_pages} pages").format(
                max_pages=self._max_pages
            ),
            endpoint=self._endpoint,
            maybe_delivered=True,
        )
