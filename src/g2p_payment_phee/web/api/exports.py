"""``/exports/{registrants,entitlements,payments,audit}``: a list as a CSV or XLSX download.

The whole file is written first (to a private temporary folder), then streamed: an error (an
XLSX too long, the database gone) is an error answer, never a download cut short, and the
request's transaction, which records the export in the audit log, ends before the first byte.
The file is unlinked as soon as it is open, so nothing is left on disk whatever happens to the
download.
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

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.exports.formats import ExportFormat
from g2p_payment_phee.exports.kinds import (
    AuditFilters,
    EntitlementFilters,
    Filters,
    PaymentFilters,
    RegistrantFilters,
)
from g2p_payment_phee.exports.service import export
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.registry.models import RegistrantKind
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/exports", tags=["exports"])
READ_BYTES = 256 * 1024

FormatQuery = Annotated[
    ExportFormat, Query(alias="format", description="The file's format: csv or xlsx")
]
FILE_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, as an attachment (its header row only when nothing matches)",
        "content": {ExportFormat.CSV.media_type: {}, ExportFormat.XLSX.media_type: {}},
    }
}


def download(
    session: Session,
    user: User,
    filters: Filters,
    fmt: ExportFormat,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """The export as a download (for the API and the pages)."""
    folder = Path(tempfile.mkdtemp(prefix="g2p-export-"))  # 0700: this process's user only
    try:
        result = export(session, user, filters, fmt, folder / f"export.{fmt}")
        handle = result.path.open("rb")
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # an open file lives on until it is closed
    size = os.fstat(handle.fileno()).st_size
    name = f"{result.kind}-{utcnow():%Y%m%d-%H%M%S}.{fmt}"
    answer_headers = {
        **(headers or {}),
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(size),
        "X-Export-Rows": str(result.rows),
    }
    return StreamingResponse(_read(handle), media_type=fmt.media_type, headers=answer_headers)


def _read(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(READ_BYTES):
            yield chunk


@router.get("/registrants", response_class=StreamingResponse, responses=FILE_ANSWER)
def export_registrants(
    user: ApiUser,
    session: DbSession,
    fmt: FormatQuery = ExportFormat.CSV,
    q: str | None = Query(
        None, max_length=300, description="Reference prefix, part of the name, ID value or phone"
    ),
    kind: RegistrantKind | None = None,
) -> StreamingResponse:
    """Registrants by reference, as ``GET /registrants`` filters them (personal data)."""
    return download(session, user, RegistrantFilters(q, kind), fmt)


@router.get("/entitlements", response_class=StreamingResponse, responses=FILE_ANSWER)
def export_entitlements(
    user: ApiUser,
    session: DbSession,
    cycle_id: uuid.UUID,
    fmt: FormatQuery = ExportFormat.CSV,
    state: EntitlementState | None = None,
) -> StreamingResponse:
    """A cycle's entitlements with their registrants, optionally in one state."""
    return download(session, user, EntitlementFilters(cycle_id, state), fmt)


@router.get("/payments", response_class=StreamingResponse, responses=FILE_ANSWER)
def export_payments(
    user: ApiUser,
    session: DbSession,
    fmt: FormatQuery = ExportFormat.CSV,
    cycle_id: uuid.UUID | None = None,
    batch_id: uuid.UUID | None = None,
    state: PaymentState | None = None,
    status: PaymentStatus | None = None,
) -> StreamingResponse:
    """Payments as ``GET /payments`` filters them; in file order within a batch."""
    return download(session, user, PaymentFilters(cycle_id, batch_id, state, status), fmt)


@router.get("/audit", response_class=StreamingResponse, responses=FILE_ANSWER)
def export_audit(
    user: ApiUser,
    session: DbSession,
    fmt: FormatQuery = ExportFormat.CSV,
    action: str | None = Query(None, max_length=100, examples=["batch.submitted"]),
    actor: str | None = Query(None, max_length=150, description="The acting user's name"),
    subject_type: str | None = Query(None, max_length=60, examples=["cycles"]),
    subject_id: uuid.UUID | None = None,
) -> StreamingResponse:
    """The audit log, newest first, as ``GET /audit-events`` filters it."""
    filters = AuditFilters(action, actor, subject_type, subject_id)
    return download(session, user, filters, fmt)
