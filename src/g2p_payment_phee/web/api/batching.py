"""Payments not sent yet: add those issued without a batch to new batches (a job), and cancel
those that cannot have reached the hub."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.batching import MAX_BATCH_SIZE
from g2p_payment_phee.payments.cancel import REASON_MAX, cancel_payments
from g2p_payment_phee.web.api.cycles import load_cycle
from g2p_payment_phee.web.api.jobs import JOB_ACCEPTED, job_accepted
from g2p_payment_phee.web.api.schemas import Amount
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/cycles", tags=["payment runs"])


class BatchingRequest(BaseModel):
    """How many payments per new batch (default: the manager's Max Batch Size)."""

    max_size: int | None = Field(default=None, ge=1, le=MAX_BATCH_SIZE)


class CancelRequest(BaseModel):
    """What to cancel: the cycle's cancellable payments, one batch's, or one payment."""

    reason: str = Field(min_length=1, max_length=REASON_MAX, description="Why (audited)")
    batch_id: uuid.UUID | None = None
    payment_id: uuid.UUID | None = None


class BatchLeftAlone(BaseModel):
    """A batch a cycle-wide cancel did not touch, and why."""

    batch: str
    why: str


class CancelReportPublic(BaseModel):
    """What was cancelled."""

    cycle: str
    reason: str
    cancelled: int = Field(description="Payments cancelled")
    amounts: dict[str, Amount]
    batches_cancelled: list[str]
    batches_shrunk: list[str] = Field(description="Batches that lost the payment cancelled")
    batches_left_alone: list[BatchLeftAlone]


@router.post("/{cycle_id}/batches", status_code=202, response_model=None, responses=JOB_ACCEPTED)
def add_to_batches(
    cycle_id: uuid.UUID, user: ApiUser, session: DbSession, body: BatchingRequest | None = None
) -> JSONResponse:
    """Put the cycle's payments issued without a batch (Automatically Create Batch off) into
    new batches, with the manager's file format and limits (a job)."""
    cycle = load_cycle(session, cycle_id)
    params = {"cycle_id": str(cycle.id), "max_size": body.max_size if body else None}
    return job_accepted(jobs.submit(session, user, "batch_payments", params))


@router.post("/{cycle_id}/payments/cancel")
def cancel(
    cycle_id: uuid.UUID, body: CancelRequest, user: ApiUser, session: DbSession
) -> CancelReportPublic:
    """Cancel issued payments that cannot have reached the hub: all the cycle's, one batch's
    (``batch_id``) or one payment (``payment_id``). Their entitlements become payable again.
    409 when what is named may have reached the hub, with the reason."""
    cycle = load_cycle(session, cycle_id)
    batch = service.get_batch(session, user, str(body.batch_id)) if body.batch_id else None
    report = cancel_payments(
        session, user, cycle, reason=body.reason, batch=batch, payment_id=body.payment_id
    )
    return CancelReportPublic(
        cycle=report.cycle,
        reason=report.reason,
        cancelled=report.cancelled,
        amounts=report.amounts,
        batches_cancelled=report.batches,
        batches_shrunk=report.shrunk,
        batches_left_alone=[BatchLeftAlone(batch=n, why=w) for n, w in report.refused],
    )
