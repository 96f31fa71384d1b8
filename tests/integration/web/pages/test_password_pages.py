"""The password page under the account menu, the admin's reset, and disabled users' cookies."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.service import authenticate
from g2p_payment_phee.web.app import create_app
from tests.factories import PASSWORD
from tests.integration.web.pages.conftest import Browser

NEW = "gravel-otter-lantern"


def _browser(session: Session, session_factory: sessionmaker[Session]) -> Browser:
    return Browser(TestClient(create_app(session_factory)), session)


def test_change_keeps_this_browser_and_signs_out_the_others(
    session: Session, session_factory: sessionmaker[Session], viewer: User
) -> None:
    here = _browser(session, session_factory).sign_in(viewer)
    there = _browser(session, session_factory).sign_in(viewer)
    assert "Change your password" in here.get("/account/tokens").text
    assert '<a href="/account/password"' in here.get("/").text  # in every page's header
    form = {"current": PASSWORD, "new": NEW, "confirm": NEW + "x"}
    assert here.post("/account/password", form, page="/account/password").status_code == 422
    form = {"current": PASSWORD, "new": "aaaaaaaaaaaa", "confirm": "aaaaaaaaaaaa"}
    weak = here.post("/account/password", form, page="/account/password")
    assert weak.status_code == 422
    assert "too easy to guess" in weak.text
    form = {"current": PASSWORD, "new": NEW, "confirm": NEW}
    done = here.post("/account/password", form, page="/account/password")
    assert done.status_code == 303
    assert here.get("/account/password").status_code == 200
    assert there.get("/account/password", follow_redirects=False).status_code == 303
    with session_factory() as fresh:
        assert authenticate(fresh, viewer.username, NEW) is not None


def test_admin_resets_a_password_and_that_user_is_signed_out(
    session: Session, session_factory: sessionmaker[Session], admin: User, viewer: User
) -> None:
    theirs = _browser(session, session_factory).sign_in(viewer)
    mine = _browser(session, session_factory).sign_in(admin)
    weak = mine.post(f"/users/{viewer.username}/password", {"password": "x" * 1001}, page="/users")
    assert weak.status_code == 422
    assert "at most 1000" in weak.text
    done = mine.post(f"/users/{viewer.username}/password", {"password": NEW}, page="/users")
    assert done.status_code == 303
    assert theirs.get("/account/tokens", follow_redirects=False).status_code == 303
    assert mine.get("/users").status_code == 200


def test_a_disabled_then_enabled_user_must_sign_in_again(
    session: Session, session_factory: sessionmaker[Session], admin: User, viewer: User
) -> None:
    theirs = _browser(session, session_factory).sign_in(viewer)
    mine = _browser(session, session_factory).sign_in(admin)
    assert mine.post(f"/users/{viewer.username}/disable", page="/users").status_code == 303
    assert mine.post(f"/users/{viewer.username}/enable", page="/users").status_code == 303
    assert theirs.get("/account/tokens", follow_redirects=False).status_code == 303
    theirs.sign_in(viewer)
    assert theirs.get("/account/tokens").status_code == 200
