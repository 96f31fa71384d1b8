"""``POST /me/password`` and ``POST /users/{username}/password`` over a real database."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.users.service import authenticate
from tests.factories import PASSWORD
from tests.integration.web.api.conftest import Api

NEW = "gravel-otter-lantern"


def test_a_user_changes_their_password_with_the_current_one(
    api: Api, session_factory: sessionmaker[Session]
) -> None:
    wrong = api.post(
        "/api/v1/me/password",
        "viewer",
        json={"current_password": "nope-nope-no", "new_password": NEW},
    )
    assert wrong.status_code == 422
    weak = api.post(
        "/api/v1/me/password",
        "viewer",
        json={"current_password": PASSWORD, "new_password": "aaaaaaaaaaaa"},
    )
    assert weak.status_code == 422
    assert "too easy" in weak.text
    huge = api.post(
        "/api/v1/me/password",
        "viewer",
        json={"current_password": PASSWORD, "new_password": "x" * 1001},
    )
    assert huge.status_code == 422
    done = api.ok(
        "POST",
        "/api/v1/me/password",
        "viewer",
        json={"current_password": PASSWORD, "new_password": NEW},
    )
    assert done["username"] == "watcher"
    assert api.get("/api/v1/me", "viewer").status_code == 200  # the token keeps working
    with session_factory() as fresh:
        assert authenticate(fresh, "watcher", NEW) is not None
        assert authenticate(fresh, "watcher", PASSWORD) is None


def test_only_an_admin_resets_a_password(api: Api, session_factory: sessionmaker[Session]) -> None:
    refused = api.post("/api/v1/users/admin/password", "program_manager", json={"password": NEW})
    assert refused.status_code == 403
    weak = api.post("/api/v1/users/watcher/password", json={"password": "watcher-12345"})
    assert weak.status_code == 422
    api.ok("POST", "/api/v1/users/watcher/password", json={"password": NEW})
    with session_factory() as fresh:
        assert authenticate(fresh, "watcher", NEW) is not None
        assert authenticate(fresh, "admin", PASSWORD) is not None


def test_disabling_revokes_tokens_and_enabling_does_not_revive_them(api: Api) -> None:
    assert api.get("/api/v1/me", "viewer").status_code == 200
    api.ok("POST", "/api/v1/users/watcher/disable")
    api.ok("POST", "/api/v1/users/watcher/enable")
    assert api.get("/api/v1/me", "viewer").status_code == 401


def test_guessing_the_current_password_is_throttled_like_sign_in(api: Api) -> None:
    """A stolen token or cookie cannot guess the password faster than the sign-in form: wrong
    current passwords count as failed sign-ins of that user from that address."""
    for _ in range(5):  # FREE_FAILURES
        wrong = api.post(
            "/api/v1/me/password",
            "viewer",
            json={"current_password": "nope-nope-no", "new_password": NEW},
        )
        assert wrong.status_code == 422
        assert wrong.json()["error"]["code"] == "wrong_password"
    waiting = api.post(
        "/api/v1/me/password",
        "viewer",
        json={"current_password": PASSWORD, "new_password": NEW},
    )
    assert waiting.status_code == 429
    assert int(waiting.headers["retry-after"]) >= 1
    assert api.get("/api/v1/me", "program_manager").status_code == 200  # others are not held
