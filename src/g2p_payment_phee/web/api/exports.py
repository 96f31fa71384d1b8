"""``/exports/{registrants,entitlements,payments,audit}``: a list as a CSV or XLSX download.

The whole file is written first, then streamed (``downloads``): the export is recorded in the
audit log by the request's transaction, which ends before the first byte.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

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
from g2p_payment_phee.web.api.downloads import attachment, written_file
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/exports", tags=["exports"])

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
    result, handle = written_file(
        "g2p-export-",
        lambda folder: export(session, user, filters, fmt, folder / f"export.{fmt}"),
        lambda done: done.path,
    )
    name = f"{result.kind}-{utcnow():%Y%m%d-%H%M%S}.{fmt}"
    rows = {"X-Export-Rows": str(result.rows)}
    return attachment(handle, name, fmt.media_type, {**(headers or {}), **rows})


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
