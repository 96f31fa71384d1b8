"""Payment managers: every program's, with its kind, hub and last test connection (everyone
may read it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from g2p_payment_phee.payments.config_service import list_managers
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import SignedIn
from g2p_payment_phee.web.pages.rendering import render

router = APIRouter()


@router.get("/managers")
def manager_list(request: Request, session: DbSession, visitor: SignedIn) -> Response:
    """Every program's payment manager, by program name."""
    context = {
        "managers": list_managers(session, visitor.user),
        "admin": visitor.can(Permission.MANAGE_SETTINGS),
    }
    return render(request, "managers/list.html", context)
