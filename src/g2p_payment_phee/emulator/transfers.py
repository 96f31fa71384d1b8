"""Transfer-level JSON: ``/batch/detail`` rows, Spring pages, instructions, the result file."""

from __future__ import annotations

import math
import uuid
from typing import Any

from .bodies import millis
from .config import ModeType
from .csvfile import Row, parse_rows
from .models import BatchRecord, Outcome, TransferStatus, row_status
from .processing import parse_amount

_ZEEBE_KEY_BASE = 2_251_799_813_685_248


def transaction_id(batch: BatchRecord, index: int) -> str:
    """The PHEE transaction id of row ``index``: stable, unique, UUID-shaped."""
    return str(uuid.uuid5(uuid.UUID(batch.batch_id), str(index)))


def transfer_status(batch: BatchRecord, index: int, now: float) -> TransferStatus:
    """Status of row ``index`` at ``now``."""
    return row_status(batch.outcomes[index], batch.is_final(now))


def _party_type(mode_type: ModeType | None, csv_type: str) -> str:
    # PAYMENT modes ignore the CSV types and fall back to MSISDN (phee-api.md 4.2).
    return "MSISDN" if mode_type is ModeType.PAYMENT else csv_type


def transfer_json(
    batch: BatchRecord,
    row: Row,
    now: float,
    *,
    modes: dict[str, ModeType],
    quote_ids: bool,
) -> dict[str, Any]:
    """One ``Transfer`` of the operations app."""
    status = transfer_status(batch, row.position, now)
    finished = None if status is TransferStatus.IN_PROGRESS else _finish_time(batch, row.position)
    mode = _row_mode(batch, row.position, modes)
    payer_type, payer = batch.payer_override or (row.payer_identifier_type, row.payer_identifier)
    rid = f'"{row.request_id}"' if quote_ids else row.request_id
    return {
        "id": batch.seq * 1_000_000 + row.position + 1,
        "workflowInstanceKey": str(_ZEEBE_KEY_BASE + batch.seq * 1_000_000 + row.position),
        "transactionId": transaction_id(batch, row.position),
        "startedAt": millis(batch.started_at),
        "completedAt": millis(finished),
        "status": status.value,
        "statusDetail": batch.reasons.get(row.position),
        "payeeDfspId": row.payee_dfsp_id or None,
        "payeePartyId": row.payee_identifier,
        "payeePartyIdType": _party_type(mode, row.payee_identifier_type),
        "payeeFee": None,
        "payeeFeeCurrency": None,
        "payeeQuoteCode": None,
        "payerDfspId": batch.tenant,
        "payerPartyId": payer,
        "payerPartyIdType": _party_type(mode, payer_type),
        "payerFee": None,
        "payerFeeCurrency": None,
        "payerQuoteCode": None,
        "amount": row.amount,
        "currency": row.currency,
        "direction": "OUTGOING",
        "errorInformation": batch.reasons.get(row.position)
        if status is TransferStatus.FAILED
        else None,
        "batchId": batch.transfer_batch_id(row.position),
        "clientCorrelationId": rid,
    }


def _finish_time(batch: BatchRecord, index: int) -> float:
    return batch.started_at if batch.outcomes[index] == Outcome.REJECTED else batch.due_at


def _row_mode(batch: BatchRecord, index: int, modes: dict[str, ModeType]) -> ModeType | None:
    chunk = batch.row_chunks[index]
    if chunk < 0:
        return None
    wanted = batch.chunks[chunk].mode.lower()
    return next((kind for name, kind in modes.items() if name.lower() == wanted), None)


def spring_page(content: list[Any], page: int, size: int, total: int) -> dict[str, Any]:
    """Spring Data 2.1 ``Page`` envelope."""
    pages = math.ceil(total / size) if size else 0
    sort = {"sorted": False, "unsorted": True, "empty": True}
    return {
        "content": content,
        "pageable": {
            "sort": sort,
            "offset": page * size,
            "pageNumber": page,
            "pageSize": size,
            "paged": True,
            "unpaged": False,
        },
        "totalPages": pages,
        "totalElements": total,
        "last": page + 1 >= pages,
        "size": size,
        "number": page,
        "sort": sort,
        "numberOfElements": len(content),
        "first": page == 0,
        "empty": not content,
    }


def instruction_json(batch: BatchRecord, row: Row, now: float) -> dict[str, Any]:
    """One item of ``instructionList`` in ``/batches/{id}?associations=all``."""
    status = transfer_status(batch, row.position, now)
    finished = None if status is TransferStatus.IN_PROGRESS else _finish_time(batch, row.position)
    return {
        "instructionId": transaction_id(batch, row.position),
        "payerFsp": batch.tenant,
        "payeeFunctionalId": row.payee_identifier,
        "amount": parse_amount(row.amount),
        "status": status.value,
        "reason": batch.reasons.get(row.position) if status is TransferStatus.FAILED else None,
        "startedAt": millis(batch.started_at),
        "completedAt": millis(finished),
        "subBatchId": batch.transfer_batch_id(row.position) if batch.split else None,
    }


def rows_of(batch: BatchRecord) -> list[Row]:
    """The batch's data rows, re-read from its stored file."""
    return parse_rows(batch.csv_text)


def result_file(batch: BatchRecord, now: float) -> str:
    """The result CSV: the request file plus status and error columns."""
    lines = batch.csv_text.split("\n")
    out = [lines[0] + ",status,error_description"]
    for index, line in enumerate(lines[1:]):
        status = transfer_status(batch, index, now).value
        out.append(f"{line},{status},{batch.reasons.get(index, '')}")
    return "\n".join(out)
