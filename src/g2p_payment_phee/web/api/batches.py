"""Batches: a cycle's batches, one batch with counts, amounts and state, its CSV file."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, BeforeValidator
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import NotFound
from g2p_payment_phee.i18n import _
from g2p_payment_phee.pagination import DEFAULT_LIMIT
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.listing import list_cycle_batches
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.resend import why_waiting
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.users.permissions import Permission, authorize
from g2p_payment_phee.web.api.cycles import load_cycle
from g2p_payment_phee.web.api.schemas import Amount, Cursor, Limit, Paginated, PublicModel, page_of
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(tags=["batches"])


class BatchPublic(PublicModel):
    """A payment batch: its state, counts and amounts, PHEE's batch id and the last error."""

    id: uuid.UUID
    cycle_id: uuid.UUID
    sequence: int
    name: str
    correlation_id: str
    state: BatchState
    currency: str
    file_name: str
    csv_sha256: str | None
    csv_size: int | None
    phee_batch_id: str | None
    issued_count: int
    issued_amount: Amount
    sent_count: int
    sent_amount: Amount
    paid_count: int
    paid_amount: Amount
    failed_count: int
    failed_amount: Amount
    send_attempts: int
    created_at: datetime
    submitted_at: datetime | None
    completed_at: datetime | None
    last_error: str | None
    # other PHEE batches the hub holds under this batch's correlation id (SPEC 2.3)
    phee_duplicate_ids: Annotated[list[str], BeforeValidator(lambda ids: ids or [])]


class BatchWaitPublic(BaseModel):
    """Why a batch being sent or with an unknown outcome waits, and until when (None: until
    the next send looks it up at PHEE)."""

    reason: str
    until: datetime | None


class BatchDetailPublic(BatchPublic):
    """A batch with PHEE's last answer to it (as stored), how far it got and, while it is
    being sent or its outcome is unknown, why it waits."""

    last_response: dict[str, Any] | list[Any] | None
    open_count: int
    waiting: BatchWaitPublic | None


class BatchesPublic(Paginated[BatchPublic]):
    """A page of a cycle's batches, in sequence order."""


def load_batch(session: Session, batch_id: uuid.UUID) -> PaymentBatch:
    """The batch with that id, or NotFound."""
    batch = session.get(PaymentBatch, batch_id)
    if batch is None:
        raise NotFound(_("no payment batch {batch_id}").format(batch_id=batch_id))
    return batch


@router.get("/cycles/{cycle_id}/batches")
def list_batches(
    cycle_id: uuid.UUID,
    user: ApiUser,
    session: DbSession,
    state: BatchState | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> BatchesPublic:
    """A page of the cycle's batches, optionally in one state."""
    authorize(user, Permission.VIEW)
    cycle = load_cycle(session, cycle_id)
    page = list_cycle_batches(session, user, cycle.id, state=state, cursor=cursor, limit=limit)
    return BatchesPublic.model_validate(page_of(BatchPublic, page))


@router.get("/batches/{batch_id}")
def read_batch(batch_id: uuid.UUID, user: ApiUser, session: DbSession) -> BatchDetailPublic:
    """One batch."""
    authorize(user, Permission.VIEW)
    batch = load_batch(session, batch_id)
    final = batch.paid_count + batch.failed_count
    wait = why_waiting(batch)
    return BatchDetailPublic(
        **BatchPublic.model_validate(batch).model_dump(),
        last_response=batch.last_response,
        open_count=max(batch.issued_count - final, 0),
        waiting=None if wait is None else BatchWaitPublic(reason=wait.reason, until=wait.until),
    )


@router.get(
    "/batches/{batch_id}/csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The PHEE bulk CSV file"}},
)
def download_csv(batch_id: uuid.UUID, user: ApiUser, session: DbSession) -> Response:
    """The batch's PHEE CSV file, byte for byte what is (or was) sent."""
    batch = load_batch(session, batch_id)
    rendered = service.batch_file(session, user, batch)
    headers = {
        "Content-Disposition": f'attachment; filename="{batch.file_name}"',
        "X-Content-SHA256": rendered.sha256,
    }
    return Response(rendered.data, media_type="text/csv; charset=utf-8", headers=headers)
