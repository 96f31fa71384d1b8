"""The language switcher in every page's header and the account page of language and zone.

The switcher works signed out too (the sign-in page): it always remembers the choice in a
cookie; for a signed-in user it also keeps it as their preference (a form with its CSRF token).
"""

from __future__ import annotations

from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from g2p_payment_phee import i18n
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.users import service as users
from g2p_payment_phee.users.auth import csrf_token_matches, session_user
from g2p_payment_phee.web.deps import SESSION_COOKIE, DbSession
from g2p_payment_phee.web.locale import LANGUAGE_COOKIE, LANGUAGE_COOKIE_MAX_AGE
from g2p_payment_phee.web.pages.access import Acting, SignedIn
from g2p_payment_phee.web.pages.forms import field_errors
from g2p_payment_phee.web.pages.rendering import redirect, render, safe_next

router = APIRouter()


def _remember(response: Response, language: str) -> Response:
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=LANGUAGE_COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=get_settings().secure_cookies,
    )
    return response


@router.post("/account/language")
def switch_language(
    request: Request,
    session: DbSession,
    language: str = Form(""),
    next: str = Form("/"),
    csrf_token: str = Form(""),
) -> Response:
    """The header's switcher: the pages in ``language`` from now on; back where it was used."""
    chosen = i18n.supported_language(language)
    back = safe_next(next)
    if chosen is None:
        return redirect(back, _("Choose one of the languages offered."), kind="error")
    token = request.cookies.get(SESSION_COOKIE, "")
    try:
        user = session_user(session, token).user if token else None
    except NotAuthenticated:
        user = None  # an ended sign-in: the cookie alone remembers the choice
    if user is not None:
        if not csrf_token_matches(get_settings().secret(), token, csrf_token):
            raise PermissionDenied(
                _("this form's security token is missing or out of date; reload the page")
            )
        users.set_preferences(session, user, language=chosen, time_zone=user.time_zone)
    return _remember(redirect(back), chosen)


def _page(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "values": values,
        "errors": errors or {},
        "zones": sorted(available_timezones()),
        "deployment_zone": get_settings().time_zone,
    }
    return render(request, "account/preferences.html", context, status_code=status)


@router.get("/account/preferences")
def preferences_form(request: Request, visitor: SignedIn) -> Response:
    """The user's language and time zone (empty: the browser's and the deployment's)."""
    user = visitor.user
    return _page(request, {"language": user.language or "", "time_zone": user.time_zone or ""})


@router.post("/account/preferences")
def save_preferences(
    request: Request,
    session: DbSession,
    visitor: Acting,
    language: str = Form(""),
    time_zone: str = Form(""),
) -> Response:
    """Keep the user's language and zone; the next pages use them."""
    values = {"language": language, "time_zone": time_zone}
    try:
        user = users.set_preferences(session, visitor.user, language=language, time_zone=time_zone)
    except ValidationFailed as error:
        session.rollback()
        return _page(request, values, field_errors(error), 422)
    with i18n.use(user.language or i18n.current_language()):
        message = _("Your language and time zone are saved.")
    response = redirect("/account/preferences", message)
    return _remember(response, user.language) if user.language else response
