"""What tests ask the emulator: was anybody paid twice, and what became of each request_id.

"Accepted for payment" means the row was handed to the payment channel (it was not a
duplicate, its mode was configured, its amount was valid, its request_id was not refused by
channel idempotency). ``paid`` counts those attempts that ended COMPLETED.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .csvfile import parse_rows
from .models import BatchRecord, Outcome, TransferStatus, row_status
from .processing import parse_amount


@dataclass
class RequestSummary:
    """Everything the emulator did with one request_id."""

    accepted: int = 0
    paid: int = 0
    failed: int = 0
    in_progress: int = 0
    rejected: int = 0
    final_status: str | None = None
    tenants: list[str] = field(default_factory=list)
    batch_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return dict(self.__dict__)


@dataclass
class TenantTotals:
    """Per-tenant totals."""

    batches: int = 0
    rows: int = 0
    accepted: int = 0
    paid: int = 0
    failed: int = 0
    in_progress: int = 0
    rejected: int = 0
    paid_amount: int = 0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return dict(self.__dict__)


def _count(summary: RequestSummary, totals: TenantTotals, status: TransferStatus) -> None:
    if status is TransferStatus.COMPLETED:
        summary.paid += 1
        totals.paid += 1
    elif status is TransferStatus.FAILED:
        summary.failed += 1
        totals.failed += 1
    else:
        summary.in_progress += 1
        totals.in_progress += 1


def _visit(
    batch: BatchRecord,
    now: float,
    requests: dict[str, RequestSummary],
    totals: TenantTotals,
) -> None:
    final = batch.is_final(now)
    totals.batches += 1
    for row in parse_rows(batch.csv_text):
        totals.rows += 1
        outcome = Outcome(batch.outcomes[row.position])
        status = row_status(outcome, final)
        summary = requests.setdefault(row.request_id, RequestSummary())
        if batch.tenant not in summary.tenants:
            summary.tenants.append(batch.tenant)
        if batch.batch_id not in summary.batch_ids:
            summary.batch_ids.append(batch.batch_id)
        if not outcome.accepted_for_payment:
            summary.rejected += 1
            totals.rejected += 1
            summary.final_status = summary.final_status or status.value
            continue
        summary.accepted += 1
        totals.accepted += 1
        summary.final_status = status.value
        _count(summary, totals, status)
        if status is TransferStatus.COMPLETED:
            totals.paid_amount += parse_amount(row.amount) or 0


def inspect(batches: list[BatchRecord], now: float, tenant: str | None = None) -> dict[str, Any]:
    """Per request_id accepted/paid counts and final status, totals per tenant, and the
    request_ids paid more than once."""
    requests: dict[str, RequestSummary] = {}
    tenants: dict[str, TenantTotals] = {}
    for batch in batches:
        if tenant is None or batch.tenant == tenant:
            _visit(batch, now, requests, tenants.setdefault(batch.tenant, TenantTotals()))
    return {
        "request_ids": {rid: s.to_json() for rid, s in requests.items()},
        "tenants": {name: t.to_json() for name, t in tenants.items()},
        "paid_more_than_once": sorted(rid for rid, s in requests.items() if s.paid > 1),
        "accepted_more_than_once": sorted(rid for rid, s in requests.items() if s.accepted > 1),
    }
