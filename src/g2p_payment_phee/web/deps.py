"""Request-scoped dependencies: the database session of a request and who is asking.

Each request is an entry point: it owns one unit of work, committed when the route function
returns (``scope="function"``: before the response is sent, so a reply never announces work
that then fails to commit) and rolled back on any error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.errors import NotAuthenticated
from g2p_payment_phee.i18n import _
from g2p_payment_phee.users.auth import session_user, token_user
from g2p_payment_phee.users.models import User, UserSession
from g2p_payment_phee.web.locale import apply_user_preferences

SESSION_COOKIE = "g2p_session"


def session_factory(request: Request) -> sessionmaker[Session]:
    """The application's session factory (set by ``create_app``)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


SessionFactory = Annotated[sessionmaker[Session], Depends(session_factory)]


def db_session(factory: SessionFactory) -> Iterator[Session]:
    """One unit of work for the request."""
    with unit_of_work(factory) as session:
        yield session


DbSession = Annotated[Session, Depends(db_session, scope="function")]


def client_ip(request: Request) -> str:
    """The caller's address as the server sees it (a proxy must set it via uvicorn's options)."""
    return request.client.host if request.client else "unknown"


def api_user(request: Request, session: DbSession) -> User:
    """The user of an API call, from ``Authorization: Bearer <personal API token>``."""
    scheme, _sep, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(_("send a personal API token as 'Authorization: Bearer <token>'"))
    return token_user(session, token.strip())


async def api_user_in_language(request: Request, user: Annotated[User, Depends(api_user)]) -> User:
    """The API user, their language and zone applied to the answer's messages (async: a
    context variable set in a worker thread would not reach the route)."""
    apply_user_preferences(user, request)
    return user


ApiUser = Annotated[User, Depends(api_user_in_language)]


def browser_session(request: Request, session: DbSession) -> UserSession:
    """The signed-in browser session named by the session cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotAuthenticated(_("sign in to continue"))
    return session_user(session, token)


BrowserSession = Annotated[UserSession, Depends(browser_session)]
