"""Who is looking at a page, and the checks every form submission passes.

A page needs a signed-in browser session (otherwise the visitor is sent to sign in, the page
kept); a form submission also needs the session's CSRF token in its ``csrf_token`` field.
Roles are checked by the services every action calls, and again here before any work starts,
so a refused action never reaches a service half-way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import PermissionDenied
from g2p_payment_phee.i18n import _
from g2p_payment_phee.users.auth import csrf_token, csrf_token_matches
from g2p_payment_phee.users.models import Role, User
from g2p_payment_phee.users.permissions import GRANTS, Permission, authorize
from g2p_payment_phee.web.deps import SESSION_COOKIE, BrowserSession
from g2p_payment_phee.web.locale import apply_user_preferences

CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Visitor:
    """The signed-in user of a page and the CSRF token its forms carry.

    Name and role are copied when the request starts: an error page is drawn after the
    request's transaction has ended, when the ORM user can no longer be read."""

    user: User
    csrf_token: str
    username: str
    role: Role

    def can(self, permission: Permission) -> bool:
        """Whether the user's role allows ``permission`` (to show or hide an action)."""
        return self.role in GRANTS[permission]

    def require(self, permission: Permission) -> User:
        """The user, or PermissionDenied with the reason (a 403 page)."""
        return authorize(self.user, permission)


async def signed_in(request: Request, browser: BrowserSession) -> Visitor:
    """The visitor of a page; NotAuthenticated (→ the sign-in page) without a live session.

    Async so that the user's language and zone, applied here, reach the route."""
    token = request.cookies.get(SESSION_COOKIE, "")
    user = browser.user
    apply_user_preferences(user, request)
    visitor = Visitor(user, csrf_token(get_settings().secret(), token), user.username, user.role)
    request.state.visitor = visitor
    return visitor


SignedIn = Annotated[Visitor, Depends(signed_in)]


async def form_visitor(request: Request, visitor: SignedIn) -> Visitor:
    """The visitor of a form submission whose CSRF token matches the session's; 403 otherwise.

    An upload's form was read already (``receive_upload``, within its size limit): its fields
    are on the request's state; any other form is read here."""
    fields = getattr(request.state, "form_fields", None)
    if fields is None:
        fields = await request.form()
    presented = fields.get(CSRF_FIELD)
    token = request.cookies.get(SESSION_COOKIE, "")
    if not isinstance(presented, str) or not csrf_token_matches(
        get_settings().secret(), token, presented
    ):
        raise PermissionDenied(
            _(
                "this form's security token is missing or out of date (or the form came from "
                "another site); reload the page and submit it again"
            )
        )
    return visitor


Acting = Annotated[Visitor, Depends(form_visitor)]
