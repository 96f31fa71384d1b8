"""A cycle's entitlements, a page at a time, and an approver rejecting one of them.

The list is a table (``programs.listing``, ``tables.py``): sortable by code or by the order
entitlements were made in, searchable, counted, paged both ways from keys, so it answers as
fast on the last page of a million entitlements as on the first. While the cycle waits for
approval, an approver sees a reject form (with the reason, required) beside each pending
entitlement; a refusal shows the list again with the reason it was refused.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import G2PError, ValidationFailed, http_status_for
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.reconciliation import outcomes_of
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.listing import list_entitlements
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import CycleState, EntitlementState
from g2p_payment_phee.tables import PageRequest
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.api.tables import Paging
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import Acting, SignedIn, Visitor
from g2p_payment_phee.web.pages.cycles import REFUSALS, load_cycle
from g2p_payment_phee.web.pages.forms import choice, field_errors
from g2p_payment_phee.web.pages.rendering import redirect, render
from g2p_payment_phee.web.pages.tables import count_words, search_note

router = APIRouter()
PAGE_SIZE = 100


@router.get("/cycles/{cycle_id}/entitlements")
def entitlement_list(
    request: Request,
    session: DbSession,
    visitor: SignedIn,
    paging: Paging,
    cycle_id: str,
    state: str = "",
    q: str = "",
) -> Response:
    """The cycle's entitlements, optionally in one state or searched (a code; a registrant's
    name, reference, phone or ID number), sortable, counted, a page at a time."""
    cycle = load_cycle(session, cycle_id)
    return _show(request, session, visitor, cycle, state, paging, q=q)


@router.post("/cycles/{cycle_id}/entitlements/{code}/reject")
def reject(
    request: Request,
    session: DbSession,
    visitor: Acting,
    cycle_id: str,
    code: str,
    reason: str = Form(""),
) -> Response:
    """An approver rejects one pending entitlement, saying why."""
    user = visitor.require(Permission.APPROVE)
    cycle = load_cycle(session, cycle_id)
    try:
        programs.reject_entitlement(session, user, cycle, code, reason)
    except REFUSALS as error:
        session.rollback()
        cycle = load_cycle(session, cycle_id)
        state = EntitlementState.PENDING_VALIDATION.value
        first = PageRequest()
        return _show(request, session, visitor, cycle, state, first, error=error, code=code)
    message = _("Entitlement {code} rejected; approving the cycle approves the others.").format(
        code=code
    )
    return redirect(f"/cycles/{cycle.id}/entitlements?state=pending_validation", message)


def _show(
    request: Request,
    session: Session,
    visitor: Visitor,
    cycle: Cycle,
    state: str,
    paging: PageRequest,
    *,
    q: str = "",
    error: G2PError | None = None,
    code: str = "",
) -> Response:
    page = list_entitlements(
        session,
        visitor.user,
        cycle.id,
        state=choice(EntitlementState, state, "state"),
        search=q,
        page=paging.sized(PAGE_SIZE),
    )
    errors = field_errors(error, "reason") if isinstance(error, ValidationFailed) else {}
    context = {
        "cycle": cycle,
        "page": page,
        "count_text": count_words("entitlements", page.count),
        "search_note": search_note(session, q),
        "q": q,
        "outcomes": outcomes_of(session, page.items),
        "state": state,
        "states": list(EntitlementState),
        "can_reject": cycle.state is CycleState.TO_APPROVE and visitor.can(Permission.APPROVE),
        "error": error.message if error is not None else "",
        "errors": errors,
        "error_code": code,
    }
    status = http_status_for(error) if error is not None else 200
    return render(request, "cycles/entitlements.html", context, status_code=status)
