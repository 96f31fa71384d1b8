"""Prepare, send, sync and retry a cycle's payments: a confirmation page, then a job.

Each GET shows what will happen (Prepare and Retry show the dry-run report: counts, amounts,
batches and every entitlement that would be skipped, with why); the POST starts the work as a
job and opens the job's page.  A cycle too large for a dry run inside a page request
(more than ``INLINE_DRY_RUN_LIMIT`` entitlements to prepare) gets its dry run as a job too; the
job's page then offers the real run.  Starting twice joins the job already under way (its dedupe
key), so a reload or a double click never does the work twice.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import http_status_for
from g2p_payment_phee.i18n import _, lazy_gettext
from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.overview import cycle_summary
from g2p_payment_phee.payments.prepare import payable_count
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import Acting, SignedIn, Visitor
from g2p_payment_phee.web.pages.cycles import REFUSALS, load_cycle, show_cycle
from g2p_payment_phee.web.pages.rendering import redirect, render

router = APIRouter()
INLINE_DRY_RUN_LIMIT = 20_000

# what each step is, who may start it, and which job does it
STEPS = {
    "prepare": (lazy_gettext("Prepare payments"), Permission.PREPARE_PAYMENTS, "prepare_cycle"),
    "retry": (lazy_gettext("Retry failed payments"), Permission.PREPARE_PAYMENTS, "retry_failed"),
    "send": (lazy_gettext("Send batches to the hub"), Permission.SEND_PAYMENTS, "send_cycle"),
    "sync": (
        lazy_gettext("Sync payment statuses from the hub"),
        Permission.SEND_PAYMENTS,
        "sync_cycle",
    ),
}


@router.get("/cycles/{cycle_id}/{step}")
def confirm(
    request: Request, session: DbSession, visitor: SignedIn, cycle_id: str, step: str
) -> Response:
    """What the step will do, with a button to start it."""
    title, permission, _kind = _step(step)
    user = visitor.require(permission)
    cycle = load_cycle(session, cycle_id)
    report = None
    to_prepare = payable_count(session, cycle) if step == "prepare" else 0
    try:
        if step == "prepare" and to_prepare <= INLINE_DRY_RUN_LIMIT:
            report = payments.prepare_cycle(session, user, cycle, dry_run=True)
        elif step == "retry":
            report = payments.retry_failed(session, user, cycle, dry_run=True)
    except REFUSALS as error:
        session.rollback()
        return _refused(request, session, visitor, cycle_id, error.message, http_status_for(error))
    context = {
        "cycle": cycle,
        "step": step,
        "title": title,
        "report": report,
        "dry_run_as_job": to_prepare > INLINE_DRY_RUN_LIMIT,
        "to_prepare": to_prepare,
        "summary": cycle_summary(session, user, cycle.id),
    }
    return render(request, "cycles/confirm.html", context)


@router.post("/cycles/{cycle_id}/prepare/dry-run")
def start_dry_run(request: Request, session: DbSession, visitor: Acting, cycle_id: str) -> Response:
    """The dry run of a large cycle's preparation as a job; its page offers the real run."""
    user = visitor.require(Permission.PREPARE_PAYMENTS)
    cycle = load_cycle(session, cycle_id)
    try:
        job = jobs.submit(
            session, user, "prepare_cycle", {"cycle_id": str(cycle.id), "dry_run": True}
        )
    except REFUSALS as error:
        session.rollback()
        return _refused(request, session, visitor, cycle_id, error.message, http_status_for(error))
    return redirect(f"/jobs/{job.id}")


@router.post("/cycles/{cycle_id}/{step}")
def start(
    request: Request, session: DbSession, visitor: Acting, cycle_id: str, step: str
) -> Response:
    """Start the step as a job (or join the one already running) and show its progress."""
    _title, permission, kind = _step(step)
    user = visitor.require(permission)
    cycle = load_cycle(session, cycle_id)
    params: dict[str, object] = {"cycle_id": str(cycle.id)}
    if kind == "prepare_cycle":
        params["dry_run"] = False
    try:
        job = jobs.submit(session, user, kind, params)
    except REFUSALS as error:
        session.rollback()
        return _refused(request, session, visitor, cycle_id, error.message, http_status_for(error))
    return redirect(f"/jobs/{job.id}")


def _step(step: str) -> tuple[str, Permission, str]:
    from g2p_payment_phee.errors import NotFound

    if step not in STEPS:
        raise NotFound(_("no such page: {step!r}").format(step=step))
    return STEPS[step]


def _refused(
    request: Request, session: Session, visitor: Visitor, cycle_id: str, message: str, status: int
) -> Response:
    cycle = load_cycle(session, cycle_id)
    return show_cycle(request, session, visitor, cycle, error=message, status=status)
