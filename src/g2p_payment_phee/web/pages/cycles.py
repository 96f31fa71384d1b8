"""A cycle: its entitlements, approval (maker–checker), payments and batches, and its actions.

Every action is a POST carrying the CSRF token; the role is checked before any work. A refused
action (maker–checker, a state that does not allow it, a bad amount) rolls the request's work
back and shows the cycle again with the reason, so nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import (
    BusinessRuleViolation,
    ConfigurationError,
    Conflict,
    G2PError,
    InvalidTransition,
    NotFound,
    ValidationFailed,
    http_status_for,
)
from g2p_payment_phee.i18n import _, lazy_gettext, ngettext
from g2p_payment_phee.import_jobs.kinds import ImportKind
from g2p_payment_phee.payments import duplicates
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.batching import waiting_count
from g2p_payment_phee.payments.listing import list_cycle_batches
from g2p_payment_phee.payments.next_steps import next_steps
from g2p_payment_phee.payments.outcomes import Outcome, cycle_outcomes
from g2p_payment_phee.payments.overdue import overdue_payments
from g2p_payment_phee.payments.overview import cycle_summary
from g2p_payment_phee.payments.resend import waiting_batches
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.entitlement_import import import_entitlements
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.api.uploads import import_job
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import Acting, SignedIn, Visitor
from g2p_payment_phee.web.pages.amounts import form_amount
from g2p_payment_phee.web.pages.forms import choice, field_errors, path_id
from g2p_payment_phee.web.pages.registrants import PageUpload
from g2p_payment_phee.web.pages.rendering import redirect, render

router = APIRouter()
NONE_ADDED = lazy_gettext(
    "No entitlements added: every enrolled beneficiary already has one in this cycle, and an "
    "existing entitlement keeps its amount. To change amounts, import a file of amounts below "
    "(a row for someone who already has an entitlement updates it)."
)


class Caution(str):
    """A message after an action that did nothing, shown as a warning rather than a success."""

    __slots__ = ()
    kind = "warn"


REFUSALS = (
    BusinessRuleViolation,
    InvalidTransition,
    Conflict,
    ValidationFailed,
    ConfigurationError,
)
BATCHES_ON_CYCLE_PAGE = 20


def load_cycle(session: Session, cycle_id: str) -> Cycle:
    """The cycle of a page address, or NotFound."""
    cycle = session.get(Cycle, path_id(cycle_id, "cycle"))
    if cycle is None:
        raise NotFound(_("no cycle {cycle_id}").format(cycle_id=cycle_id))
    return cycle


@router.get("/cycles/{cycle_id}")
def cycle_page(request: Request, session: DbSession, visitor: SignedIn, cycle_id: str) -> Response:
    """The cycle with its totals, the first batches and the actions its state allows."""
    return show_cycle(request, session, visitor, load_cycle(session, cycle_id))


def show_cycle(
    request: Request,
    session: Session,
    visitor: Visitor,
    cycle: Cycle,
    *,
    error: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The cycle page, optionally with the reason the last action was refused and what the
    refused form held (so nothing typed is lost)."""
    user = visitor.user
    batches = list_cycle_batches(session, user, cycle.id, limit=BATCHES_ON_CYCLE_PAGE)
    outcomes = cycle_outcomes(session, user, cycle)
    context: dict[str, Any] = {
        "cycle": cycle,
        "program": cycle.program,
        "entitlements": programs.cycle_totals(session, cycle),
        "summary": cycle_summary(session, user, cycle.id),
        "outcomes": outcomes,
        "next_step": next_steps(session, [cycle]).get(cycle.id),
        "unpaid_text": payments.unpaid_text(outcomes) if outcomes.unpaid else "",
        "outcome_list": list(Outcome),
        "overdue": overdue_payments(
            session, user, cycle.id, older_than=get_settings().overdue_after
        ),
        "batches": batches,
        "paid_twice": duplicates.paid_twice(session, cycle.id),
        "waiting": waiting_batches(session, cycle.id),
        "to_batch": waiting_count(session, cycle),
        "submitted_by": _username(session, cycle.submitted_by_id),
        "approved_by": _username(session, cycle.approved_by_id),
        "error": error,
        "errors": errors or {},
        "values": values or {},
    }
    return render(request, "cycles/detail.html", context, status_code=status)


def _username(session: Session, user_id: Any) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    return user.username if user is not None else ""


def act_on_cycle(
    request: Request,
    session: Session,
    visitor: Visitor,
    cycle_id: str,
    permission: Permission,
    work: Callable[[User, Cycle], str],
    field: str = "",
    values: dict[str, str] | None = None,
) -> Response:
    """Run one action on the cycle; on a refusal, roll back and show why (with ``values``,
    what the form was sent)."""
    user = visitor.require(permission)
    cycle = load_cycle(session, cycle_id)
    try:
        message = work(user, cycle)
    except REFUSALS as error:
        session.rollback()
        return _refused(request, session, visitor, cycle_id, error, field, values)
    return redirect(f"/cycles/{cycle.id}", message, kind=getattr(message, "kind", "ok"))


def _refused(
    request: Request,
    session: Session,
    visitor: Visitor,
    cycle_id: str,
    error: G2PError,
    field: str = "",
    values: dict[str, str] | None = None,
) -> Response:
    errors = field_errors(error, field) if isinstance(error, ValidationFailed) else {}
    cycle = load_cycle(session, cycle_id)
    return show_cycle(
        request,
        session,
        visitor,
        cycle,
        error=error.message,
        errors=errors,
        values=values,
        status=http_status_for(error),
    )


@router.post("/cycles/{cycle_id}/entitlements")
def add_entitlements(
    request: Request,
    session: DbSession,
    visitor: Acting,
    cycle_id: str,
    amount: str = Form(""),
    fee: str = Form("0"),
) -> Response:
    """One entitlement of ``amount`` for every enrolled beneficiary without one."""

    def work(user: User, cycle: Cycle) -> str:
        currency = cycle.program.currency
        each = form_amount(amount, "amount", _("Amount each"), currency)
        charge = form_amount(fee or "0", "fee", _("Transfer fee"), currency, allow_zero=True)
        added = programs.add_fixed_entitlements(
            session, user, cycle, amount=each, transfer_fee=charge
        )
        if not added:
            return Caution(str(NONE_ADDED))
        return ngettext("{count} entitlement added.", "{count} entitlements added.", added).format(
            count=added
        )

    typed = {"amount": amount, "fee": fee}
    return act_on_cycle(
        request, session, visitor, cycle_id, Permission.MANAGE_PROGRAMS, work, "amount", typed
    )


@router.post("/cycles/{cycle_id}/entitlements/import")
def import_cycle_entitlements(
    request: Request, upload: PageUpload, session: DbSession, visitor: Acting, cycle_id: str
) -> Response:
    """Entitlements with their amounts from a file; the per-row report is shown."""
    user = visitor.require(Permission.MANAGE_PROGRAMS)
    cycle = load_cycle(session, cycle_id)
    dry_run = bool(upload.fields.get("dry_run"))
    try:
        path = upload.require()
        chosen = upload.format(None)
        job = import_job(
            session, user, ImportKind.ENTITLEMENTS, upload, fmt=chosen, dry_run=dry_run, cycle=cycle
        )
        if job is not None:
            return redirect(f"/jobs/{job.id}")
        report = import_entitlements(
            session, user, cycle, path, fmt=chosen, dry_run=dry_run, file_name=upload.name
        )
    except REFUSALS as error:
        session.rollback()
        return _refused(request, session, visitor, cycle_id, error, "file")
    context = {"cycle": cycle, "report": report, "shown": report.errors[:500]}
    return render(request, "cycles/import_report.html", context)


@router.post("/cycles/{cycle_id}/submit")
def submit(request: Request, session: DbSession, visitor: Acting, cycle_id: str) -> Response:
    """The maker sends the cycle for approval."""

    def work(user: User, cycle: Cycle) -> str:
        count = programs.submit_cycle(session, user, cycle)
        return ngettext(
            "Submitted for approval with {count} entitlement; another user must approve it.",
            "Submitted for approval with {count} entitlements; another user must approve it.",
            count,
        ).format(count=count)

    return act_on_cycle(request, session, visitor, cycle_id, Permission.MANAGE_PROGRAMS, work)


@router.get("/cycles/{cycle_id}/approve")
def approve_confirmation(
    request: Request, session: DbSession, visitor: SignedIn, cycle_id: str
) -> Response:
    """What approving commits the program to (people, amounts, fees) before the checker
    confirms; the POST below stays one step for the API and the CLI."""
    visitor.require(Permission.APPROVE)
    cycle = load_cycle(session, cycle_id)
    totals = programs.cycle_totals(session, cycle)
    pending = EntitlementState.PENDING_VALIDATION
    context = {
        "cycle": cycle,
        "program": cycle.program,
        "people": totals.counts.get(pending, 0),
        "amount": totals.amounts.get(pending, Decimal(0)),
        "fees": totals.fees.get(pending, Decimal(0)),
    }
    return render(request, "cycles/approve.html", context)


@router.post("/cycles/{cycle_id}/approve")
def approve(request: Request, session: DbSession, visitor: Acting, cycle_id: str) -> Response:
    """The checker approves (refused to the maker while maker–checker is on)."""

    def work(user: User, cycle: Cycle) -> str:
        count = programs.approve_cycle(session, user, cycle)
        return f"Approved: {count} entitlements."

    return act_on_cycle(request, session, visitor, cycle_id, Permission.APPROVE, work)


@router.post("/cycles/{cycle_id}/return")
def send_back(
    request: Request, session: DbSession, visitor: Acting, cycle_id: str, reason: str = Form("")
) -> Response:
    """The checker sends the cycle back to draft, saying why."""

    def work(user: User, cycle: Cycle) -> str:
        programs.return_cycle_to_draft(session, user, cycle, reason)
        return _("Sent back to draft.")

    return act_on_cycle(request, session, visitor, cycle_id, Permission.APPROVE, work, "reason")


@router.post("/cycles/{cycle_id}/cancel")
def cancel(
    request: Request, session: DbSession, visitor: Acting, cycle_id: str, reason: str = Form("")
) -> Response:
    """Cancel the cycle and its open entitlements."""

    def work(user: User, cycle: Cycle) -> str:
        programs.cancel_cycle(session, user, cycle, reason.strip())
        return "Cycle cancelled."

    return act_on_cycle(
        request, session, visitor, cycle_id, Permission.MANAGE_PROGRAMS, work, "reason"
    )


@router.post("/cycles/{cycle_id}/paid-twice/acknowledge")
def acknowledge_paid_twice(
    request: Request, session: DbSession, visitor: Acting, cycle_id: str, reason: str = Form("")
) -> Response:
    """An approver acknowledges the payments PHEE paid more than once, saying how they are
    handled; distribution waits for it."""

    def work(user: User, cycle: Cycle) -> str:
        count = duplicates.acknowledge_paid_twice(session, user, cycle, reason)
        return ngettext(
            "Acknowledged {count} payment paid more than once.",
            "Acknowledged {count} payments paid more than once.",
            count,
        ).format(count=count)

    return act_on_cycle(request, session, visitor, cycle_id, Permission.APPROVE, work)


@router.post("/cycles/{cycle_id}/distribute")
def distribute(
    request: Request,
    session: DbSession,
    visitor: Acting,
    cycle_id: str,
    unpaid_reason: str = Form(""),
) -> Response:
    """Mark the cycle distributed once every payment is final; when some beneficiaries were
    not paid, only with a reason saying what happens to them."""

    def work(user: User, cycle: Cycle) -> str:
        payments.mark_distributed(session, user, cycle, unpaid_reason=unpaid_reason)
        return _("Cycle marked distributed.")

    return act_on_cycle(
        request, session, visitor, cycle_id, Permission.SEND_PAYMENTS, work, "unpaid_reason"
    )


@router.post("/cycles/{cycle_id}/end")
def end(request: Request, session: DbSession, visitor: Acting, cycle_id: str) -> Response:
    """Close the cycle for good (distributed, or approved with nothing to pay)."""

    def work(user: User, cycle: Cycle) -> str:
        payments.end_cycle(session, user, cycle)
        return "Cycle ended."

    return act_on_cycle(request, session, visitor, cycle_id, Permission.MANAGE_PROGRAMS, work)


@router.get("/cycles/{cycle_id}/batches")
def batch_list(
    request: Request,
    session: DbSession,
    visitor: SignedIn,
    cycle_id: str,
    state: str = "",
    cursor: str | None = None,
) -> Response:
    """All of the cycle's batches, a page at a time, optionally in one state."""
    cycle = load_cycle(session, cycle_id)
    page = list_cycle_batches(
        session,
        visitor.user,
        cycle.id,
        state=choice(BatchState, state, "state"),
        cursor=cursor,
        limit=100,
    )
    context = {"cycle": cycle, "page": page, "state": state, "states": list(BatchState)}
    return render(request, "cycles/batches.html", context)
