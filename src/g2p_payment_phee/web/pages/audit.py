"""The audit log: every change, newest first, filtered by action, user and subject."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from g2p_payment_phee.audit_log import list_events
from g2p_payment_phee.web import audit_words
from g2p_payment_phee.web.api.tables import Paging
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import SignedIn
from g2p_payment_phee.web.pages.forms import path_id
from g2p_payment_phee.web.pages.rendering import render
from g2p_payment_phee.web.pages.tables import count_words

router = APIRouter()


@router.get("/audit")
def audit_log(
    request: Request,
    session: DbSession,
    visitor: SignedIn,
    paging: Paging,
    action: str = "",
    user: str = "",
    subject_type: str = "",
    subject: str = "",
) -> Response:
    """A page of audit events matching the filters (each an exact match), newest or oldest
    first, counted."""
    page = list_events(
        session,
        visitor.user,
        action=action.strip() or None,
        actor_name=user.strip() or None,
        subject_type=subject_type.strip() or None,
        subject_id=path_id(subject.strip(), "subject") if subject.strip() else None,
        page=paging.sized(100),
    )
    filters = {"action": action, "user": user, "subject_type": subject_type, "subject": subject}
    rows = [
        {
            "event": e,
            "sentence": audit_words.sentence(e.action, e.data),
            "subject": audit_words.subject(e.subject_type, e.subject_id),
            "details": audit_words.details(e.data),
        }
        for e in page.items
    ]
    context = {
        "page": page,
        "count_text": count_words("events", page.count),
        "rows": rows,
        "filters": filters,
    }
    return render(request, "audit.html", context)
