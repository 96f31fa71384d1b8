"""Paying a cycle: prepare (a dry-run report at once, or the real run as a job), retry failed,
send and sync (jobs). A job answers 202 with the job; polling ``/jobs/{id}`` shows progress and
the result. Submitting the same work while it runs answers the job already under way."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.prepare import PreparationReport
from g2p_payment_phee.web.api.cycles import load_cycle
from g2p_payment_phee.web.api.jobs import JOB_ACCEPTED, JobPublic, job_accepted, job_public
from g2p_payment_phee.web.api.schemas import Amount
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/cycles", tags=["payment runs"])

DryRunQuery = Query(False, description="true: answer the report now and write nothing")


class SkippedPublic(BaseModel):
    """An entitlement that gets no payment, and why."""

    code: str
    reference: str
    reason: str


class CurrencyTotalPublic(BaseModel):
    """Payments and amounts in one currency."""

    count: int
    amount: Amount
    fees: Amount


class PreparationReportPublic(BaseModel):
    """What prepare would do (dry run): counts, totals, batches, skipped entitlements."""

    cycle: str
    dry_run: bool
    created: int
    batches: int
    file_bytes: int
    already_paid: int
    skipped_count: int
    skipped: list[SkippedPublic]
    totals: dict[str, CurrencyTotalPublic]
    message: str


class SendRequest(BaseModel):
    """Which batches to send: all sendable ones of the cycle, or those listed."""

    batch_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=10_000)


def _report(report: PreparationReport) -> JSONResponse:
    body = PreparationReportPublic(
        cycle=report.cycle,
        dry_run=report.dry_run,
        created=report.created,
        batches=report.batches,
        file_bytes=report.file_bytes,
        already_paid=report.already_paid,
        skipped_count=report.skipped_count,
        skipped=[
            SkippedPublic(code=s.code, reference=s.reference, reason=s.reason)
            for s in report.skipped
        ],
        totals={
            c: CurrencyTotalPublic(count=t.count, amount=t.amount, fees=t.fees)
            for c, t in report.totals.items()
        },
        message=report.message,
    )
    return JSONResponse(jsonable_encoder(body), status_code=200)


@router.post(
    "/{cycle_id}/prepare",
    response_model=None,
    responses={200: {"model": PreparationReportPublic}, **JOB_ACCEPTED},
)
def prepare(
    cycle_id: uuid.UUID, user: ApiUser, session: DbSession, dry_run: bool = DryRunQuery
) -> JSONResponse:
    """Prepare payments and batches of an approved cycle: ``dry_run=true`` answers the report
    (nothing written); otherwise the preparation runs as a job."""
    cycle = load_cycle(session, cycle_id)
    if dry_run:
        return _report(service.prepare_cycle(session, user, cycle, dry_run=True))
    params = {"cycle_id": str(cycle.id), "dry_run": False}
    return job_accepted(jobs.submit(session, user, "prepare_cycle", params))


@router.post(
    "/{cycle_id}/retry-failed",
    response_model=None,
    responses={200: {"model": PreparationReportPublic}, **JOB_ACCEPTED},
)
def retry_failed(
    cycle_id: uuid.UUID, user: ApiUser, session: DbSession, dry_run: bool = DryRunQuery
) -> JSONResponse:
    """New payments (new batches) for entitlements whose every payment failed."""
    cycle = load_cycle(session, cycle_id)
    if dry_run:
        return _report(service.retry_failed(session, user, cycle, dry_run=True))
    return job_accepted(jobs.submit(session, user, "retry_failed", {"cycle_id": str(cycle.id)}))


@router.post("/{cycle_id}/send", status_code=202, responses=JOB_ACCEPTED)
def send(
    cycle_id: uuid.UUID, user: ApiUser, session: DbSession, body: SendRequest | None = None
) -> JobPublic:
    """Send the cycle's prepared, rejected or unknown-outcome batches to the hub (a job)."""
    cycle = load_cycle(session, cycle_id)
    ids = [str(i) for i in body.batch_ids] if body and body.batch_ids else None
    params = {"cycle_id": str(cycle.id), "batch_ids": ids}
    return job_public(jobs.submit(session, user, "send_cycle", params))


@router.post("/{cycle_id}/sync", status_code=202, responses=JOB_ACCEPTED)
def sync(cycle_id: uuid.UUID, user: ApiUser, session: DbSession) -> JobPublic:
    """Read the hub's status of the cycle's submitted batches and reconcile payments (a job)."""
    cycle = load_cycle(session, cycle_id)
    return job_public(jobs.submit(session, user, "sync_cycle", {"cycle_id": str(cycle.id)}))
