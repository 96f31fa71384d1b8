"""Payments not sent yet, on the cycle and batch pages: add those issued without a batch to
new batches (a job), and cancel those that cannot have reached the hub (all of a cycle's, a
batch's, or one payment), with a reason. A refusal shows the page again with why."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _, ngettext
from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.jobs.kinds import JobKind
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.cancel import CancelReport, cancel_payments
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import Acting
from g2p_payment_phee.web.pages.cycles import REFUSALS, act_on_cycle
from g2p_payment_phee.web.pages.forms import path_id
from g2p_payment_phee.web.pages.rendering import redirect

router = APIRouter()


@router.post("/cycles/{cycle_id}/batches")
def add_to_batches(
    request: Request, session: DbSession, visitor: Acting, cycle_id: str, max_size: str = Form("")
) -> Response:
    """Start the job that puts the cycle's waiting payments into new batches."""
    job_id: list[uuid.UUID] = []

    def work(user: User, cycle: Cycle) -> str:
        size = _whole(max_size, "max_size") if max_size.strip() else None
        params = {"cycle_id": str(cycle.id), "max_size": size}
        job_id.append(jobs.submit(session, user, JobKind.BATCH_PAYMENTS, params).id)
        return ""

    shown = act_on_cycle(
        request, session, visitor, cycle_id, Permission.PREPARE_PAYMENTS, work, "max_size"
    )
    return redirect(f"/jobs/{job_id[0]}") if job_id else shown


@router.post("/cycles/{cycle_id}/payments/cancel")
def cancel_cycle_payments(
    request: Request,
    session: DbSession,
    visitor: Acting,
    cycle_id: str,
    reason: str = Form(""),
    payment: str = Form(""),
) -> Response:
    """Cancel every payment of the cycle that cannot have reached the hub, or the one named."""

    def work(user: User, cycle: Cycle) -> str:
        payment_id = path_id(payment.strip(), "payment") if payment.strip() else None
        report = cancel_payments(session, user, cycle, reason=reason, payment_id=payment_id)
        return _said(report)

    return act_on_cycle(
        request, session, visitor, cycle_id, Permission.PREPARE_PAYMENTS, work, "reason"
    )


@router.post("/batches/{batch_id}/cancel")
def cancel_batch(
    request: Request,
    session: DbSession,
    visitor: Acting,
    batch_id: str,
    reason: str = Form(""),
    payment: str = Form(""),
) -> Response:
    """Cancel this batch (never sent) and its payments, or only the payment named."""
    user = visitor.require(Permission.PREPARE_PAYMENTS)
    batch = payments.get_batch(session, user, str(path_id(batch_id, "payment batch")))
    cycle = batch.cycle
    payment_id = path_id(payment.strip(), "payment") if payment.strip() else None
    try:
        report = cancel_payments(
            session,
            user,
            cycle,
            reason=reason,
            batch=None if payment_id else batch,
            payment_id=payment_id,
        )
    except REFUSALS as error:
        session.rollback()
        return redirect(
            f"/batches/{batch.id}",
            _("Not cancelled: {message}").format(message=error.message),
            kind="error",
        )
    return redirect(f"/batches/{batch.id}", _said(report))


def _whole(text: str, field: str) -> int:
    try:
        return int(text.strip().replace(",", ""))
    except ValueError:
        raise ValidationFailed(
            _("{text!r} is not a whole number").format(text=text),
            [FieldError(field, _("a whole number, such as 500"))],
        ) from None


def _said(report: CancelReport) -> str:
    said = ngettext(
        "Cancelled {count} payment", "Cancelled {count} payments", report.cancelled
    ).format(count=report.cancelled)
    if report.batches:
        count = len(report.batches)
        said += ngettext(" and {count} batch", " and {count} batches", count).format(count=count)
    if report.refused:
        count = len(report.refused)
        said += ngettext(
            "; {count} batch left alone", "; {count} batches left alone", count
        ).format(count=count)
    return said + ". " + _("Their entitlements are payable again.")
