"""``/cycles/{id}/report``: a cycle's reconciliation report as an XLSX or CSV download.

The whole file is written first, then streamed (``downloads``): the report is audited by the
request's transaction, which ends before the first byte.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from g2p_payment_phee.exports.cycle_report import cycle_report
from g2p_payment_phee.exports.formats import ExportFormat
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.api.cycles import load_cycle
from g2p_payment_phee.web.api.downloads import attachment, written_file
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(tags=["cycles"])
FILE_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report, as an attachment (its header only when nobody is reported)",
        "content": {ExportFormat.XLSX.media_type: {}, ExportFormat.CSV.media_type: {}},
    }
}


def report_download(
    session: Session,
    user: User,
    cycle: Cycle,
    fmt: ExportFormat | str,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """The cycle's reconciliation report as a download (for the API and the pages)."""
    result, handle = written_file(
        "g2p-report-",
        lambda folder: cycle_report(session, user, cycle, fmt, folder / "report"),
        lambda done: done.path,
    )
    name = f"reconciliation-{cycle.id}.{result.fmt}"
    rows = {"X-Report-Rows": str(result.rows)}
    return attachment(handle, name, result.fmt.media_type, {**(headers or {}), **rows})


@router.get("/cycles/{cycle_id}/report", response_class=StreamingResponse, responses=FILE_ANSWER)
def download_report(
    cycle_id: uuid.UUID,
    user: ApiUser,
    session: DbSession,
    fmt: Annotated[
        ExportFormat, Query(alias="format", description="xlsx (with a summary sheet) or csv")
    ] = ExportFormat.XLSX,
) -> StreamingResponse:
    """The reconciliation report: one row per beneficiary (payee as sent, amount approved,
    outcome, amount and time paid, PHEE batch and transaction ids, attempts, last failure
    reason); XLSX adds a summary sheet (people and money by outcome, reasons, batches)."""
    return report_download(session, user, load_cycle(session, cycle_id), fmt)
