"""The language and time zone of each request.

Pages are in the signed-in user's language when they chose one (account page), else in the
language the switcher remembered in a cookie (signed-out pages such as sign-in), else the
browser's best ``Accept-Language`` choice, else English.  Times are shown in the user's zone,
else the deployment's (``G2P_TIME_ZONE``).  API answers take ``Accept-Language`` before the
token owner's preference: a client that sends the header asks for that language.

The middleware sets both for the whole request (error answers included) and restores them
after; :func:`apply_user_preferences`, called once the user is known, overrides them.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from g2p_payment_phee import i18n
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.users.models import User

LANGUAGE_COOKIE = "g2p_lang"
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600


def chosen_language(preference: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language of a page: the user's preference, the switcher's cookie, the browser's
    ``Accept-Language`` (by its q-values), English; the first supported one wins."""
    return (
        i18n.supported_language(preference)
        or i18n.supported_language(cookie)
        or i18n.from_accept_language(accept_language)
        or i18n.SOURCE_LANGUAGE
    )


def chosen_zone(preference: str | None) -> str:
    """The user's zone when they chose a valid one, else the deployment's."""
    if preference:
        try:
            return i18n.valid_zone(preference)
        except ValueError:
            pass
    return get_settings().time_zone


class RequestLocale:
    """Sets the language and zone for each HTTP request from its cookie and headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        api = connection.url.path.startswith("/api/")
        cookie = None if api else connection.cookies.get(LANGUAGE_COOKIE)
        language = chosen_language(None, cookie, connection.headers.get("accept-language"))
        with i18n.use(language, chosen_zone(None)):
            await self.app(scope, receive, send)


def apply_user_preferences(user: User, connection: HTTPConnection) -> None:
    """The signed-in user's language and zone for the rest of the request (call it from an
    ``async`` dependency: a value set in a worker thread would not reach the route)."""
    zone = chosen_zone(user.time_zone)
    if connection.url.path.startswith("/api/") and i18n.from_accept_language(
        connection.headers.get("accept-language")
    ):
        i18n.apply(zone=zone)
        return
    i18n.apply(user.language, zone)
