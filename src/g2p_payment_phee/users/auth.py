"""Sign-in for people and programs: browser sessions, login rate limiting and API tokens.

Browser sessions and API tokens are random tokens handed out once; the database keeps only
their SHA-256, so a copy of the database signs nobody in.

Refused sign-ins slow guessing down without letting anyone lock an account from elsewhere:
each (username, address) pair gets a few free attempts, then a delay that doubles with every
further failure; an address that fails too often, whatever the usernames, waits out the window.
While a pair or an address waits, sign-in is refused before the password is checked.  The same
username from another address is not slowed, so an attacker cannot keep an admin out.
"""

from __future__ import annotations

import hmac
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import (
    NotAuthenticated,
    NotFound,
    RateLimited,
    ValidationFailed,
    WrongPassword,
)
from g2p_payment_phee.i18n import _
from g2p_payment_phee.security import hash_token, new_token
from g2p_payment_phee.users.models import ApiToken, LoginFailure, Role, User, UserSession
from g2p_payment_phee.users.permissions import Permission, authorize
from g2p_payment_phee.users.service import authenticate, change_password

SESSION_LIFETIME = timedelta(hours=8)
SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ADDRESS = 20
# Per (username, address): failures counted over an hour, the first FREE_FAILURES free, then
# FIRST_DELAY doubling with each failure up to MAX_DELAY.
PAIR_WINDOW = timedelta(hours=1)
FREE_FAILURES = 5
FIRST_DELAY = timedelta(seconds=2)
MAX_DELAY = timedelta(minutes=5)
API_TOKEN_PREFIX = "g2p_"  # noqa: S105 - marks our tokens in logs and scanners
Clock = Callable[[], datetime]
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


def pair_delay(failures: int) -> timedelta:
    """How long a (username, address) pair waits after its ``failures``-th failure."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    doublings = min(failures - FREE_FAILURES, 20)  # 2 s * 2**20 is far past MAX_DELAY
    return min(FIRST_DELAY * (1 << doublings), MAX_DELAY)


def check_login_rate(
    session: Session, username: str, client_ip: str, *, now: datetime | None = None
) -> None:
    """RateLimited while this address, or this username from this address, must wait."""
    now = now or utcnow()
    by_address = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.client_ip == client_ip, LoginFailure.created_at >= now - LOGIN_WINDOW)
    )
    if (by_address or 0) >= MAX_FAILURES_PER_ADDRESS:
        minutes = int(LOGIN_WINDOW.total_seconds() // 60)
        raise RateLimited(
            _("too many failed sign-ins from your address; try again in {minutes} minutes").format(
                minutes=minutes
            ),
            retry_after=int(LOGIN_WINDOW.total_seconds()),
        )
    count, last = session.execute(
        select(func.count(), func.max(LoginFailure.created_at)).where(
            LoginFailure.username == _login_name(username),
            LoginFailure.client_ip == client_ip,
            LoginFailure.created_at >= now - PAIR_WINDOW,
        )
    ).one()
    if not count or last is None:
        return
    last = last if last.tzinfo else last.replace(tzinfo=UTC)  # SQLite's aggregate is naive
    wait = last + pair_delay(count) - now
    if wait > timedelta(0):
        seconds = math.ceil(wait.total_seconds())
        raise RateLimited(
            _("too many failed sign-ins; try again in {seconds} seconds").format(seconds=seconds),
            retry_after=seconds,
        )


def _login_name(username: str) -> str:
    return username.strip().lower()[:150]


def sign_in(
    session: Session, username: str, password: str, client_ip: str, *, clock: Clock = utcnow
) -> NewSession:
    """A new browser session for valid credentials; NotAuthenticated (no hint why) otherwise."""
    check_login_rate(session, username, client_ip, now=clock())
    user = authenticate(session, username, password)
    if user is None:
        session.add(
            LoginFailure(username=_login_name(username), client_ip=client_ip, created_at=clock())
        )
        session.flush()
        raise NotAuthenticated(_("unknown username or wrong password"))
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.username == user.username, LoginFailure.client_ip == client_ip
        )
    )  # a success clears its own pair's failures and delays
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
    audit.record(session, user, AuditAction.USER_SIGNED_IN, user, {"client_ip": client_ip})
    return NewSession(token=token, session=row)


def change_own_password(
    session: Session,
    actor: User,
    *,
    current: str,
    new: str,
    client_ip: str,
    keep_web_session: uuid.UUID | None = None,
    clock: Clock = utcnow,
) -> User:
    """``users.service.change_password``, throttled like sign-in: a wrong current password
    counts as a failed sign-in of the user from ``client_ip`` (the caller commits it even though
    the change fails), so a stolen session cannot guess the password faster than the form."""
    check_login_rate(session, actor.username, client_ip, now=clock())
    try:
        return change_password(
            session, actor, current=current, new=new, keep_web_session=keep_web_session
        )
    except WrongPassword:
        failure = LoginFailure(
            username=_login_name(actor.username), client_ip=client_ip, created_at=clock()
        )
        session.add(failure)
        session.flush()
        raise


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
        raise NotAuthenticated(_("your session has ended; sign in again"))
    if now - row.last_seen_at >= _TOUCH_INTERVAL:
        row.last_seen_at = now
    return row


def sign_out(session: Session, token: str) -> None:
    """End the session a cookie token names (nothing happens for an unknown token)."""
    row = session.scalar(select(UserSession).where(UserSession.token_hash == hash_token(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, row.user, AuditAction.USER_SIGNED_OUT, row.user)


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
        raise ValidationFailed(_("token name must be 1-100 characters"))
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed(_("token expiry must be in the future"))
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
    audit.record(session, actor, AuditAction.API_TOKEN_CREATED, row, {"name": name})
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
        raise NotFound(_("no API token {token_id}").format(token_id=token_id))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, AuditAction.API_TOKEN_REVOKED, row, {"name": row.name})
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
        raise NotAuthenticated(_("invalid, expired or revoked API token"))
    if row.last_used_at is None or now - row.last_used_at >= _TOUCH_INTERVAL:
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return row.user
