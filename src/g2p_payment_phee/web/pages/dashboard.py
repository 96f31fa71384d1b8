"""The dashboard: where a program team starts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from g2p_payment_phee.dashboard import dashboard
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import SignedIn
from g2p_payment_phee.web.pages.rendering import render

router = APIRouter()


@router.get("/")
def home(request: Request, session: DbSession, visitor: SignedIn) -> Response:
    """Programs, cycles needing action, recent batches, running jobs."""
    return render(request, "dashboard.html", {"board": dashboard(session, visitor.user)})
