"""Batch-level JSON of the operations app (phee-api.md 6.2, 6.4, 6.5 and the ``/batches`` list).

Two kinds of numbers, as in PHEE: ``/batch/{id}`` recomputes from transfers (live counts) and
writes the result back to the stored batch row; every other batch endpoint reads the stored row.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any

from .bodies import java_date, millis
from .models import BatchRecord, Counts, TransferStatus
from .transfers import instruction_json, rows_of


def percent_double(part: int, total: int) -> str:
    """Java ``Double.toString`` of ``part / total * 100`` (``/batch/{id}``)."""
    if total == 0:
        return "NaN"
    return repr(part / total * 100)


def percent_format(part: int, total: int) -> str:
    """``DecimalFormat("#.##")`` with floor rounding of the same double (stored rows)."""
    if total == 0:
        return "NaN"
    value = Decimal(part / total * 100).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _amounts(counts: Counts) -> dict[str, int]:
    return {
        "totalAmount": counts.total_amount,
        "successfulAmount": counts.successful_amount,
        "pendingAmount": counts.pending_amount,
        "failedAmount": counts.failed_amount,
    }


def aggregate_dto(batch: BatchRecord, counts: Counts, file_url: str | None) -> dict[str, Any]:
    """``GET /batch/{id}``: recomputed BatchDTO (reads "Failed" while still running)."""
    status = "COMPLETED" if counts.successful == counts.total else "Failed"
    return _batch_dto(
        batch,
        counts,
        file_url,
        status=status,
        created_at=java_date(batch.started_at),
        modes=batch.modes,
        purpose="Unknown purpose",
        fail=percent_double(counts.failed, counts.total),
        success=percent_double(counts.successful, counts.total),
    )


def stored_dto(batch: BatchRecord, file_url: str | None) -> dict[str, Any]:
    """``GET /batch?batchId=``: BatchDTO from the stored row, possibly stale."""
    counts = batch.stored_counts()
    if counts.successful == counts.total:
        status = "COMPLETED"
    elif counts.ongoing != 0 and batch.completed_at is None:
        status = "Pending"
    else:
        status = "UNKNOWN"
    return _batch_dto(
        batch,
        counts,
        file_url,
        status=status,
        created_at=None,
        modes=None,
        purpose=None,
        fail=percent_format(counts.failed, counts.total),
        success=percent_format(counts.successful, counts.total),
    )


def _batch_dto(
    batch: BatchRecord,
    counts: Counts,
    file_url: str | None,
    *,
    status: str,
    created_at: str | None,
    modes: str | None,
    purpose: str | None,
    fail: str,
    success: str,
) -> dict[str, Any]:
    return {
        "batchId": batch.batch_id,
        "requestId": batch.correlation_id,
        "total": counts.total,
        "ongoing": counts.ongoing,
        "failed": counts.failed,
        "successful": counts.successful,
        **_amounts(counts),
        "file": file_url,
        "notes": None,
        "createdAt": created_at,
        "status": status,
        "modes": modes,
        "purpose": purpose,
        "failPercentage": fail,
        "successPercentage": success,
        "registeringInstitutionId": batch.registering_institution_id,
        "payerFsp": batch.tenant,
        "correlationId": batch.correlation_id,
    }


def stored_status(batch: BatchRecord) -> str:
    """The ``batches.status`` column: "null" until an aggregate ran."""
    if not batch.aggregated:
        return "null"
    counts = batch.stored_counts()
    return (TransferStatus.IN_PROGRESS if counts.ongoing else TransferStatus.COMPLETED).value


def list_item(batch: BatchRecord, file_url: str | None) -> dict[str, Any]:
    """A stored ``batches`` row as the ``/batches`` list returns it."""
    counts = batch.stored_counts()
    return {
        "id": batch.seq,
        "batchId": batch.batch_id,
        "subBatchId": None,
        "requestId": batch.correlation_id,
        "requestFile": batch.file_name,
        "totalTransactions": counts.total,
        "ongoing": counts.ongoing,
        "failed": counts.failed,
        "completed": counts.successful,
        "totalAmount": counts.total_amount,
        "ongoingAmount": counts.pending_amount,
        "failedAmount": counts.failed_amount,
        "completedAmount": counts.successful_amount,
        "resultFile": file_url,
        "resultGeneratedAt": millis(batch.completed_at) if file_url else None,
        "note": None,
        "paymentMode": batch.modes,
        "registeringInstitutionId": batch.registering_institution_id,
        "payerFsp": batch.tenant,
        "correlationId": batch.correlation_id,
        "approvedAmount": counts.total_amount,
        "approvedCount": counts.total,
        "startedAt": millis(batch.started_at),
        "completedAt": millis(batch.completed_at),
        "status": stored_status(batch),
    }


def batches_page(batches: list[BatchRecord], page: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``/batches`` envelope: totals over every matching batch, plus one page of rows."""
    totals = [batch.stored_counts() for batch in batches]
    return {
        "totalBatches": len(batches),
        "totalTransactions": sum(c.total for c in totals),
        "totalAmount": sum(c.total_amount for c in totals),
        "totalApprovedCount": sum(c.total for c in totals),
        "totalApprovedAmount": sum(c.total_amount for c in totals),
        "totalSubBatchesCreated": sum(
            sum(1 for chunk in b.chunks if chunk.sub_batch_id) for b in batches
        ),
        "data": page,
    }


def _sub_batch_summary(batch: BatchRecord, number: int, file_url: str | None) -> dict[str, Any]:
    chunk = batch.chunks[number]
    counts = chunk.tally.counts(batch.is_final(batch.snapshot_at))
    return {
        "subBatchId": chunk.sub_batch_id,
        "batchId": batch.batch_id,
        "requestId": batch.correlation_id,
        "total": counts.total,
        "ongoing": counts.ongoing,
        "failed": counts.failed,
        "successful": counts.successful,
        **_amounts(counts),
        "file": file_url,
        "modes": chunk.mode,
        "payeeFspSet": [],
        "status": stored_status(batch),
        "startedAt": millis(batch.started_at),
        "completedAt": millis(batch.completed_at),
    }


def batch_and_sub_batches(
    batch: BatchRecord, file_url: str | None, request_file_url: str, now: float
) -> dict[str, Any]:
    """``GET /batches/{id}``: BatchAndSubBatchSummaryResponse from stored rows."""
    counts = batch.stored_counts()
    subs = [n for n, chunk in enumerate(batch.chunks) if chunk.sub_batch_id is not None]
    body: dict[str, Any] = {
        "batchId": batch.batch_id,
        "requestId": batch.correlation_id,
        "startedAt": millis(batch.started_at),
        "completedAt": millis(batch.completed_at),
        "registeringInstitutionId": batch.registering_institution_id,
        "total": counts.total,
        "ongoing": counts.ongoing,
        "successful": counts.successful,
        "failed": counts.failed,
        **_amounts(counts),
        "file": file_url,
        "notes": None,
        "createdAt": java_date(batch.started_at),
        "status": stored_status(batch),
        "modes": batch.modes,
        "purpose": None,
        "failedPercentage": percent_format(counts.failed, counts.total),
        "successPercentage": percent_format(counts.successful, counts.total),
        "payerFsp": batch.tenant,
        "payeeFsp": None,
        "generatedBy": "System",
        "generatedAt": millis(now),
        "totalSubBatches": len(subs),
        "approvedTransactionCount": counts.total,
        "approvedAmount": counts.total_amount,
        "totalInstructionCount": counts.total,
    }
    if subs:
        body["subBatchSummaryList"] = [_sub_batch_summary(batch, n, request_file_url) for n in subs]
    return body


def payment_batch_detail(
    batch: BatchRecord, now: float, *, page: int, limit: int, descending: bool
) -> dict[str, Any]:
    """``GET /batches/{id}?associations=all``: PaymentBatchDetail with one page per sub-batch."""
    counts = batch.stored_counts()
    rows = rows_of(batch)
    groups: dict[int, list[Any]] = {}
    for row in rows:
        groups.setdefault(batch.row_chunks[row.position] if batch.split else 0, []).append(row)
    instructions: list[dict[str, Any]] = []
    for key, members in groups.items():
        if batch.split and key < 0:
            continue
        items = sorted(
            (instruction_json(batch, row, now) for row in members),
            key=lambda item: item["instructionId"],
            reverse=descending,
        )
        instructions += items[page * limit : (page + 1) * limit]
    sub_list: list[dict[str, Any]] = [
        {
            "subBatchId": chunk.sub_batch_id,
            "payerFsp": batch.tenant,
            "budgetAccount": batch.payer_override[1] if batch.payer_override else None,
            "totalAmount": chunk.tally.counts(True).total_amount,
            "total": chunk.tally.counts(True).total,
            "payeeFspSet": [],
        }
        for chunk in batch.chunks
        if chunk.sub_batch_id is not None
    ]
    return {
        "batchId": batch.batch_id,
        "payerFsp": batch.tenant,
        "reportGeneratedBy": "System",
        "reportGeneratedAt": millis(now),
        "startedAt": millis(batch.started_at),
        "completedAt": millis(batch.completed_at),
        "registeringInstitutionId": batch.registering_institution_id,
        "status": stored_status(batch),
        "clientCorrelationId": batch.correlation_id,
        "total": counts.total,
        "ongoing": counts.ongoing,
        "successful": counts.successful,
        "failed": counts.failed,
        **_amounts(counts),
        "totalBatchAmount": counts.total_amount,
        "totalInstruction": counts.total,
        "subBatchList": sub_list,
        "instructionList": instructions,
    }


def sub_batch_detail(
    batch: BatchRecord, number: int, now: float, request_file_url: str
) -> dict[str, Any]:
    """``GET /batches/{id}/subBatches/{sid}``: SubBatchSummary with its instructions."""
    body = _sub_batch_summary(batch, number, request_file_url)
    members = [row for row in rows_of(batch) if batch.row_chunks[row.position] == number]
    body["instructionList"] = [instruction_json(batch, row, now) for row in members]
    body["totalInstructionCount"] = len(members)
    return body
