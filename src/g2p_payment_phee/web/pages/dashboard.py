"""The dashboard: where a program team starts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.dashboard import dashboard
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import SignedIn
from g2p_payment_phee.web.pages.rendering import render

router = APIRouter()


@router.get("/")
def home(request: Request, session: DbSession, visitor: SignedIn) -> Response:
    """Overdue payments, programs, cycles needing action, recent batches, running jobs."""
    board = dashboard(session, visitor.user, overdue_after=get_settings().overdue_after)
    return render(request, "dashboard.html", {"board": board})
