"""``/cycles/{id}/report``: a cycle's reconciliation report as an XLSX or CSV download.

The whole file is written first, in a private temporary folder, then streamed: an error is an
error answer, never a download cut short, and the request's transaction (which audits the
report) ends before the first byte. The file is unlinked as soon as it is open, so nothing is
left on disk whatever happens to the download.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from g2p_payment_phee.exports.cycle_report import cycle_report
from g2p_payment_phee.exports.formats import ExportFormat
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.api.cycles import load_cycle
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(tags=["cycles"])
READ_BYTES = 256 * 1024
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
    folder = Path(tempfile.mkdtemp(prefix="g2p-report-"))  # 0700: this process's user only
    try:
        result = cycle_report(session, user, cycle, fmt, folder / "report")
        handle = result.path.open("rb")
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # an open file lives on until it is closed
    size = os.fstat(handle.fileno()).st_size
    name = f"reconciliation-{cycle.id}.{result.fmt}"
    answer_headers = {
        **(headers or {}),
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(size),
        "X-Report-Rows": str(result.rows),
    }
    return StreamingResponse(
        _read(handle), media_type=result.fmt.media_type, headers=answer_headers
    )


def _read(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(READ_BYTES):
            yield chunk


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
