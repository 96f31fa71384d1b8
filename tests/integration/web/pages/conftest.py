"""Pages over a real database: a TestClient per test and a way to sign in as any role."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.app import create_app
from tests.factories import PASSWORD

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """A TestClient that signs in through the form and posts forms with their CSRF token."""

    def __init__(self, client: TestClient, session: Session) -> None:
        self.client = client
        self.session = session

    def sign_in(self, user: User, password: str = PASSWORD) -> Browser:
        self.session.commit()  # what the test built must be visible to the app
        page = self.client.get("/login")
        answer = self.client.post(
            "/login",
            data={"username": user.username, "password": password, "csrf_token": csrf(page.text)},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        return self

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        answer: httpx.Response = self.client.get(url, **kwargs)
        return answer

    def token(self, url: str = "/") -> str:
        return csrf(self.client.get(url).text)

    def post(
        self, url: str, data: dict[str, str] | None = None, *, page: str = "/", **kw: Any
    ) -> httpx.Response:
        form = {"csrf_token": self.token(page), **(data or {})}
        answer: httpx.Response = self.client.post(url, data=form, follow_redirects=False, **kw)
        return answer


def csrf(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF_RE.search(html)
    assert found, "no form with a CSRF token on the page"
    return found.group(1)


@pytest.fixture
def client(session: Session, session_factory: sessionmaker[Session]) -> Iterator[TestClient]:
    session.commit()
    with TestClient(create_app(session_factory)) as test_client:
        yield test_client


@pytest.fixture
def browser(client: TestClient, session: Session) -> Browser:
    return Browser(client, session)


@pytest.fixture
def as_user(
    session: Session, session_factory: sessionmaker[Session]
) -> Iterator[Callable[[User], Browser]]:
    """A function giving a signed-in Browser (its own cookie jar) for a user."""
    clients: list[TestClient] = []

    def sign_in(user: User) -> Browser:
        session.commit()
        test_client = TestClient(create_app(session_factory))
        clients.append(test_client)
        return Browser(test_client, session).sign_in(user)

    yield sign_in
    for test_client in clients:
        test_client.close()


from tests.integration.phee.conftest import _emulator, hub  # noqa: E402, F401 - shared fixtures
