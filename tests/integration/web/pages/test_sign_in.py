"""Signing in and out: cookie flags, the page kept across sign-in, the rate limit, CSRF, and
what an ended session does to a page (sign in again) and to the API (JSON, no redirect)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.users.models import User, UserSession
from tests.factories import PASSWORD
from tests.integration.web.pages.conftest import Browser, csrf


def _login(client: TestClient, username: str, password: str, next_page: str = "/"):
    token = csrf(client.get("/login").text)
    data = {"username": username, "password": password, "next": next_page, "csrf_token": token}
    return client.post("/login", data=data, follow_redirects=False)


def test_a_page_without_a_session_goes_to_sign_in_and_comes_back(
    client: TestClient, session: Session, admin: User
) -> None:
    session.commit()
    answer = client.get("/programs?x=1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fprograms%3Fx%3D1"
    signed = _login(client, "admin", PASSWORD, "/programs?x=1")
    assert (signed.status_code, signed.headers["location"]) == (303, "/programs?x=1")
    cookie = signed.headers["set-cookie"]
    assert "g2p_session=" in cookie
    for flag in ("HttpOnly", "SameSite=lax", "Path=/", "Max-Age=28800"):
        assert flag.lower() in cookie.lower()
    assert "secure" not in cookie.lower()  # embedded mode serves plain http on localhost
    assert client.get("/programs").status_code == 200


def test_secure_cookie_when_configured(
    client: TestClient, session: Session, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    session.commit()
    monkeypatch.setenv("G2P_COOKIE_SECURE", "true")
    get_settings.cache_clear()
    assert "secure" in _login(client, "admin", PASSWORD).headers["set-cookie"].lower()


def test_next_never_leaves_the_site(client: TestClient, session: Session, admin: User) -> None:
    session.commit()
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        assert _login(client, "admin", PASSWORD, target).headers["location"] == "/"


def test_wrong_password_then_rate_limit(client: TestClient, session: Session, admin: User) -> None:
    session.commit()
    for _ in range(5):
        refused = _login(client, "admin", "wrong password")
        assert refused.status_code == 401
        assert "unknown username or wrong password" in refused.text
    limited = _login(client, "admin", PASSWORD)  # even the right password now waits
    assert limited.status_code == 429
    assert "too many failed sign-ins" in limited.text
    assert "g2p_session" not in limited.headers.get("set-cookie", "")


def test_sign_in_form_needs_its_csrf_cookie(
    client: TestClient, session: Session, admin: User
) -> None:
    session.commit()
    forged = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": "made-up"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert "g2p_session" not in forged.headers.get("set-cookie", "")


def test_forms_without_the_session_csrf_token_are_refused(
    browser: Browser, admin: User, session: Session
) -> None:
    browser.sign_in(admin)
    for token in (None, "0" * 64):
        data = {"name": "Forged", "currency": "KES"}
        if token is not None:
            data["csrf_token"] = token
        answer = browser.client.post("/programs", data=data, follow_redirects=False)
        assert answer.status_code == 403
        assert "security token" in answer.text
    assert "Forged" not in browser.get("/programs").text
    created = browser.post("/programs", {"name": "Real", "currency": "KES"})
    assert created.status_code == 303


def test_an_ended_session_returns_to_sign_in_keeping_the_page(
    browser: Browser, admin: User, session: Session
) -> None:
    browser.sign_in(admin)
    idle = utcnow() - timedelta(hours=1)
    session.execute(update(UserSession).values(last_seen_at=idle))
    session.commit()
    answer = browser.get("/audit?action=cycle.approved", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Faudit%3Faction%3Dcycle.approved"
    api = browser.client.get("/api/v1/no-such-route")
    assert "application/json" in api.headers["content-type"]


def test_logout_ends_the_session(browser: Browser, admin: User, session: Session) -> None:
    browser.sign_in(admin)
    token = browser.token()
    out = browser.client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert browser.get("/", follow_redirects=False).status_code == 303
    session.expire_all()
    assert session.query(UserSession).one().revoked_at is not None
