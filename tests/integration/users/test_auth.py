"""Sign-in sessions, sign-in throttling, CSRF tokens and personal API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import NotAuthenticated, NotFound, RateLimited, ValidationFailed
from g2p_payment_phee.security import hash_token
from g2p_payment_phee.users import auth, service
from g2p_payment_phee.users.models import ApiToken, User, UserSession
from g2p_payment_phee.users.passwords import MAX_PASSWORD_LENGTH
from tests import factories


def test_sign_in_opens_a_session_stored_only_as_a_hash(session: Session, admin: User) -> None:
    opened = auth.sign_in(session, "Admin", factories.PASSWORD, "10.0.0.1")
    stored = session.scalars(select(UserSession)).one()
    assert stored.token_hash == hash_token(opened.token)
    assert opened.token not in stored.token_hash
    assert auth.session_user(session, opened.token).user.username == "admin"
    actions = session.scalars(select(AuditEvent.action)).all()
    assert "user.signed_in" in actions


def test_wrong_password_and_unknown_user_get_the_same_answer(session: Session, admin: User) -> None:
    with pytest.raises(NotAuthenticated) as wrong:
        auth.sign_in(session, "admin", "not-the-password", "10.0.0.1")
    with pytest.raises(NotAuthenticated) as unknown:
        auth.sign_in(session, "nobody", "not-the-password", "10.0.0.1")
    assert wrong.value.message == unknown.value.message


class Clock:
    """A clock the test moves by hand, so growing delays need no sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _fail(session: Session, username: str, address: str, clock: Clock) -> None:
    with pytest.raises(NotAuthenticated):
        auth.sign_in(session, username, "guess", address, clock=clock)


def test_failures_of_one_pair_bring_growing_delays(session: Session, admin: User) -> None:
    clock = Clock()
    for _ in range(auth.FREE_FAILURES):
        _fail(session, "admin", "10.0.0.1", clock)
    with pytest.raises(RateLimited) as first:  # even the right password waits
        auth.sign_in(session, "admin", factories.PASSWORD, "10.0.0.1", clock=clock)
    assert first.value.retry_after == 2
    clock.advance(2)
    _fail(session, "admin", "10.0.0.1", clock)
    clock.advance(3)
    with pytest.raises(RateLimited) as second:  # the delay doubled to 4 s
        auth.sign_in(session, "admin", factories.PASSWORD, "10.0.0.1", clock=clock)
    assert second.value.retry_after == 1
    assert session.scalar(select(UserSession.id)) is None
    clock.advance(1)
    assert auth.sign_in(session, "admin", factories.PASSWORD, "10.0.0.1", clock=clock).token
    _fail(session, "admin", "10.0.0.1", clock)  # the success cleared the pair's count
    _fail(session, "admin", "10.0.0.1", clock)


def test_guessing_from_one_address_never_keeps_the_user_out_elsewhere(
    session: Session, admin: User
) -> None:
    clock = Clock()
    for _ in range(auth.FREE_FAILURES):
        _fail(session, "admin", "10.0.0.66", clock)
    for _ in range(12):  # keep guessing as fast as the delays allow
        clock.advance(auth.pair_delay(auth.FREE_FAILURES + 20).total_seconds())
        _fail(session, "admin", "10.0.0.66", clock)
    with pytest.raises(RateLimited):
        auth.sign_in(session, "admin", factories.PASSWORD, "10.0.0.66", clock=clock)
    assert auth.sign_in(session, "admin", factories.PASSWORD, "10.0.0.7", clock=clock).token


def test_an_oversized_password_is_refused_before_any_hashing(
    session: Session, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object) -> bool:
        raise AssertionError("an oversized password reached the hasher")

    monkeypatch.setattr(service, "hash_password", never)
    monkeypatch.setattr(service, "verify_password", never)
    for name in ("admin", "nobody"):
        with pytest.raises(NotAuthenticated):
            auth.sign_in(session, name, "x" * (MAX_PASSWORD_LENGTH + 1), "10.0.0.1")


def test_one_address_guessing_many_usernames_is_limited(session: Session, admin: User) -> None:
    for n in range(auth.MAX_FAILURES_PER_ADDRESS):
        with pytest.raises(NotAuthenticated):
            auth.sign_in(session, f"user{n}", "guess", "10.0.0.9")
    with pytest.raises(RateLimited):
        auth.sign_in(session, "admin", factories.PASSWORD, "10.0.0.9")
    assert auth.sign_in(session, "admin", factories.PASSWORD, "10.0.0.10").token


def test_ended_idle_expired_and_disabled_sessions_are_refused(
    session: Session, admin: User, viewer: User
) -> None:
    ended = auth.sign_in(session, "admin", factories.PASSWORD, "ip")
    auth.sign_out(session, ended.token)
    idle = auth.sign_in(session, "admin", factories.PASSWORD, "ip")
    idle.session.last_seen_at = utcnow() - auth.SESSION_IDLE_TIMEOUT - timedelta(seconds=1)
    expired = auth.sign_in(session, "admin", factories.PASSWORD, "ip")
    expired.session.expires_at = utcnow() - timedelta(seconds=1)
    disabled = auth.sign_in(session, viewer.username, factories.PASSWORD, "ip")
    viewer.active = False
    session.flush()
    for token in (ended.token, idle.token, expired.token, disabled.token, "forged"):
        with pytest.raises(NotAuthenticated, match="sign in again"):
            auth.session_user(session, token)


def test_csrf_token_is_bound_to_the_session_and_the_key() -> None:
    token = auth.csrf_token("key-one", "session-a")
    assert auth.csrf_token_matches("key-one", "session-a", token)
    assert not auth.csrf_token_matches("key-one", "session-b", token)
    assert not auth.csrf_token_matches("key-two", "session-a", token)
    assert not auth.csrf_token_matches("key-one", "session-a", "")


def test_api_token_is_shown_once_and_identifies_its_user(session: Session, viewer: User) -> None:
    created = auth.create_api_token(session, viewer, "reporting")
    assert created.token.startswith(auth.API_TOKEN_PREFIX)
    row = session.scalars(select(ApiToken)).one()
    assert row.token_hash == hash_token(created.token)
    assert created.token not in (row.token_hash, row.prefix)
    assert auth.token_user(session, created.token).id == viewer.id
    assert row.last_used_at is not None


def test_revoked_expired_and_foreign_tokens(session: Session, admin: User, viewer: User) -> None:
    mine = auth.create_api_token(session, viewer, "mine")
    auth.revoke_api_token(session, viewer, mine.api_token.id)
    with pytest.raises(NotAuthenticated):
        auth.token_user(session, mine.token)
    admins = auth.create_api_token(session, admin, "admin's")
    with pytest.raises(NotFound):
        auth.revoke_api_token(session, viewer, admins.api_token.id)
    short = auth.create_api_token(session, viewer, "short", expires_at=utcnow() + timedelta(1))
    short.api_token.expires_at = utcnow() - timedelta(seconds=1)
    session.flush()
    with pytest.raises(NotAuthenticated):
        auth.token_user(session, short.token)
    with pytest.raises(ValidationFailed, match="future"):
        auth.create_api_token(session, viewer, "past", expires_at=utcnow() - timedelta(1))
    with pytest.raises(ValidationFailed, match="name"):
        auth.create_api_token(session, viewer, "  ")
    assert [t.name for t in auth.list_api_tokens(session, viewer)] == ["short", "mine"]
