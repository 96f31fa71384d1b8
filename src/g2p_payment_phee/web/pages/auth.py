"""Signing in and out.

The sign-in form has no session yet, so it is protected against login CSRF by a double-submit
token: a random value in a short-lived cookie that the form must repeat.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import NotAuthenticated, RateLimited
from g2p_payment_phee.i18n import _
from g2p_payment_phee.users.auth import SESSION_LIFETIME, sign_in, sign_out
from g2p_payment_phee.web.deps import SESSION_COOKIE, DbSession, client_ip
from g2p_payment_phee.web.pages.access import Acting
from g2p_payment_phee.web.pages.rendering import redirect, render, safe_next

router = APIRouter()
LOGIN_CSRF_COOKIE = "g2p_login_csrf"


def _login_page(
    request: Request, next_page: str, *, error: str = "", username: str = "", status: int = 200
) -> Response:
    token = secrets.token_urlsafe(24)
    context = {"next": safe_next(next_page), "error": error, "username": username, "token": token}
    response = render(request, "login.html", context, status_code=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="lax",
        secure=get_settings().secure_cookies,
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in form (it keeps the page to come back to)."""
    return _login_page(request, next)


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
    csrf_token: str = Form(""),
) -> Response:
    """Open a session (cookie: HttpOnly, SameSite=Lax, Secure per settings) and go on."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        message = _("the sign-in form had expired; please sign in again")
        return _login_page(request, next, error=message, username=username, status=403)
    try:
        opened = sign_in(session, username, password, client_ip(request))
    except RateLimited as error:
        return _login_page(request, next, error=error.message, username=username, status=429)
    except NotAuthenticated as error:
        # the failure is counted: commit it, or the rate limit would never see it
        return _login_page(request, next, error=error.message, username=username, status=401)
    response = redirect(safe_next(next))
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=get_settings().secure_cookies,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: DbSession, visitor: Acting) -> Response:
    """End the session here and in the database."""
    sign_out(session, request.cookies.get(SESSION_COOKIE, ""))
    response = redirect("/login", _("You are signed out."))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
