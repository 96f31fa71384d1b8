"""Sign-in for people and programs: browser sessions, login rate limiting and API tokens.

Browser sessions and API tokens are random tokens handed out once; the database keeps only
their SHA-256, so a copy of the database signs nobody in.  Refused sign-ins are counted per
username and per client address over a sliding window; past the limit, sign-in is refused
before the password is even checked.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import NotAuthenticated, NotFound, RateLimited, ValidationFailed
from g2p_payment_phee.security import hash_token, new_token
from g2p_payment_phee.users.models import ApiToken, LoginFailure, Role, User, UserSession
from g2p_payment_phee.users.permissions import Permission, authorize
from g2p_payment_phee.users.service import authenticate

SESSION_LIFETIME = timedelta(hours=8)
SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USERNAME = 5
MAX_FAILURES_PER_ADDRESS = 20
API_TOKEN_PREFIX = "g2p_"  # noqa: S105 - marks our tokens in logs and scanners
# Writing last_seen_at on every request would turn each page view into a write.
_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class NewSession:
    """A session just opened: ``token`` goes into the cookie and is never stored."""

    token: str
    session: UserSession


@dataclass(frozen=True)
class NewApiToken:
    """A token just created: ``token`` is shown once and never stored."""

    token: str
    api_token: ApiToken


def check_login_rate(session: Session, username: str, client_ip: str) -> None:
    """RateLimited when this username or address failed too often in the window."""
    since = utcnow() - LOGIN_WINDOW
    by_name = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.username == username.strip().lower(), LoginFailure.created_at >= since)
    )
    by_address = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.client_ip == client_ip, LoginFailure.created_at >= since)
    )
    if (by_name or 0) >= MAX_FAILURES_PER_USERNAME or (by_address or 0) >= MAX_FAILURES_PER_ADDRESS:
        minutes = int(LOGIN_WINDOW.total_seconds() // 60)
        raise RateLimited(
            f"too many failed sign-ins; try again in {minutes} minutes",
            retry_after=int(LOGIN_WINDOW.total_seconds()),
        )


def sign_in(session: Session, username: str, password: str, client_ip: str) -> NewSession:
    """A new browser session for valid credentials; NotAuthenticated (no hint why) otherwise."""
    check_login_rate(session, username, client_ip)
    user = authenticate(session, username, password)
    if user is None:
        session.add(LoginFailure(username=username.strip().lower()[:150], client_ip=client_ip))
        session.flush()
        raise NotAuthenticated("unknown username or wrong password")
    session.execute(
        delete(LoginFailure).where(LoginFailure.username == user.username)
    )  # a success clears the username's count (the address count stays)
    now = utcnow()
    token = new_token()
    row = UserSession(
        user_id=user.id,
        user=user,
        token_hash=hash_token(token),
        expires_at=now + SESSION_LIFETIME,
        last_seen_at=now,
        client_ip=client_ip,
    )
    session.add(row)
    session.flush()
    audit.record(session, user, "user.signed_in", user, {"client_ip": client_ip})
    return NewSession(token=token, session=row)


def session_user(session: Session, token: str) -> UserSession:
    """The live session a cookie token names; NotAuthenticated when unknown, ended or idle."""
    row = session.scalar(select(UserSession).where(UserSession.token_hash == hash_token(token)))
    now = utcnow()
    if (
        row is None
        or row.revoked_at is not None
        or row.expires_at <= now
        or row.last_seen_at + SESSION_IDLE_TIMEOUT <= now
        or not row.user.active
    ):
        raise NotAuthenticated("your session has ended; sign in again")
    if now - row.last_seen_at >= _TOUCH_INTERVAL:
        row.last_seen_at = now
    return row


def sign_out(session: Session, token: str) -> None:
    """End the session a cookie token names (nothing happens for an unknown token)."""
    row = session.scalar(select(UserSession).where(UserSession.token_hash == hash_token(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, row.user, "user.signed_out", row.user)


def csrf_token(secret_key: str, session_token: str) -> str:
    """The CSRF token of a session: an HMAC of its cookie token, so nothing more is stored."""
    return hmac.new(
        secret_key.encode("utf-8"), b"csrf:" + session_token.encode("utf-8"), "sha256"
    ).hexdigest()


def csrf_token_matches(secret_key: str, session_token: str, presented: str) -> bool:
    """Constant-time check of a form's CSRF token against the session's."""
    return hmac.compare_digest(csrf_token(secret_key, session_token), presented)


def create_api_token(
    session: Session, actor: User, name: str, *, expires_at: datetime | None = None
) -> NewApiToken:
    """A personal API token for the acting user, acting with that user's role."""
    authorize(actor, Permission.VIEW)
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValidationFailed("token name must be 1-100 characters")
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed("token expiry must be in the future")
    token = API_TOKEN_PREFIX + new_token()
    row = ApiToken(
        user_id=actor.id,
        user=actor,
        name=name,
        token_hash=hash_token(token),
        prefix=token[: len(API_TOKEN_PREFIX) + 4],
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "api_token.created", row, {"name": name})
    return NewApiToken(token=token, api_token=row)


def list_api_tokens(session: Session, actor: User) -> list[ApiToken]:
    """The acting user's tokens, newest first (hashes stay inside)."""
    authorize(actor, Permission.VIEW)
    query = (
        select(ApiToken).where(ApiToken.user_id == actor.id).order_by(ApiToken.created_at.desc())
    )
    return list(session.scalars(query))


def revoke_api_token(session: Session, actor: User, token_id: uuid.UUID) -> ApiToken:
    """Revoke one of the acting user's tokens (admins may revoke anyone's)."""
    authorize(actor, Permission.VIEW)
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.id and actor.role is not Role.ADMIN):
        raise NotFound(f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, "api_token.revoked", row, {"name": row.name})
    return row


def token_user(session: Session, token: str) -> User:
    """The active user an API token belongs to; NotAuthenticated otherwise."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    now = utcnow()
    if (
        row is None
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
        or not row.user.active
    ):
        raise NotAuthenticated("invalid, expired or revoked API token")
    if row.last_used_at is None or now - row.last_used_at >= _TOUCH_INTERVAL:
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return row.user
