"""Create, list, disable and authenticate users."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import (
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    WrongPassword,
)
from g2p_payment_phee.i18n import _
from g2p_payment_phee.security import hash_password, verify_password
from g2p_payment_phee.users.models import ApiToken, Role, User, UserSession
from g2p_payment_phee.users.passwords import check_new_password, within_length
from g2p_payment_phee.users.permissions import Permission, authorize

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,149}$")


def has_admin(session: Session) -> bool:
    """Whether an active admin exists (the first admin may be created without one)."""
    query = select(func.count()).where(User.role == Role.ADMIN, User.active.is_(True))
    return bool(session.scalar(query))


def create_user(
    session: Session,
    actor: User | None,
    *,
    username: str,
    password: str,
    role: Role,
    full_name: str = "",
) -> User:
    """A new user; needs an admin actor, except for the very first admin of an installation."""
    bootstrap = actor is None and role is Role.ADMIN and not has_admin(session)
    if not bootstrap:
        authorize(actor, Permission.MANAGE_USERS)
    username = username.strip().lower()
    problems = new_user_problems(username, password)
    if problems:
        raise ValidationFailed("; ".join(problem.reason for problem in problems), problems)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(_("user {username!r} already exists").format(username=username))
    user = User(
        username=username, full_name=full_name, role=role, password_hash=hash_password(password)
    )
    session.add(user)
    session.flush()
    audit.record(
        session, actor, AuditAction.USER_CREATED, user, {"username": username, "role": role}
    )
    return user


def new_user_problems(username: str, password: str) -> list[FieldError]:
    """Everything wrong with a new user's name and password at once, so a form shows it all."""
    username = username.strip().lower()
    problems = []
    if not USERNAME_RE.match(username):
        reason = _(
            "username {username!r} must be 2-150 characters of a-z, 0-9, '.', '_', '@', '-'"
        ).format(username=username)
        problems.append(FieldError("username", reason))
    try:
        check_new_password(password, username)
    except ValidationFailed as error:
        problems.append(FieldError("password", error.message))
    return problems


def get_user(session: Session, username: str) -> User:
    """The user by name, or NotFound."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFound(_("no user {username!r}").format(username=username))
    return user


def acting_user(session: Session, username: str | None) -> User:
    """The active user named as the actor of a command; a clear refusal otherwise."""
    if not username:
        raise PermissionDenied(_("name the acting user (--as USER or G2P_ACTOR)"))
    try:
        user = get_user(session, username)
    except NotFound:
        raise PermissionDenied(_("unknown user {username!r}").format(username=username)) from None
    if not user.active:
        raise PermissionDenied(_("user {username!r} is disabled").format(username=user.username))
    return user


def list_users(session: Session, actor: User) -> list[User]:
    """All users, by name."""
    authorize(actor, Permission.VIEW)
    return list(session.scalars(select(User).order_by(User.username)))


def set_active(session: Session, actor: User, username: str, *, active: bool) -> User:
    """Disable (or re-enable) a user; an admin cannot disable themself.

    Disabling ends the user's web sessions and revokes their API tokens for good, so enabling
    restores only the account: whatever was signed in before must sign in again.
    """
    authorize(actor, Permission.MANAGE_USERS)
    user = get_user(session, username)
    if user.id == actor.id and not active:
        raise ValidationFailed(_("you cannot disable your own account"))
    if user.active == active:
        return user
    user.active = active
    user.disabled_at = None if active else utcnow()
    data = {} if active else revoke_access(session, user)
    audit.record(
        session,
        actor,
        AuditAction.USER_ENABLED if active else AuditAction.USER_DISABLED,
        user,
        data,
    )
    return user


def revoke_access(session: Session, user: User) -> dict[str, int]:
    """End every live web session and revoke every live API token of the user.

    Returns how many of each were ended, for the audit event of the caller.
    """
    revoked: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return {
        "web_sessions_ended": end_web_sessions(session, user),
        "api_tokens_revoked": revoked.rowcount,
    }


def end_web_sessions(session: Session, user: User, *, keep: uuid.UUID | None = None) -> int:
    """End the user's live web sessions (except ``keep``, the one making the change)."""
    query = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep)
    ended: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        query.values(revoked_at=utcnow())
    )
    return ended.rowcount


def change_password(
    session: Session,
    actor: User,
    *,
    current: str,
    new: str,
    keep_web_session: uuid.UUID | None = None,
) -> User:
    """The acting user's own password change: the current password is required.

    Every other web session of the user ends (the one making the change may stay); API tokens
    stay, as they do not depend on the password.
    """
    authorize(actor, Permission.VIEW)
    if not within_length(current) or not verify_password(actor.password_hash, current):
        raise WrongPassword("the current password is wrong")
    if new == current:
        raise ValidationFailed(_("the new password must differ from the current one"))
    check_new_password(new, actor.username)
    actor.password_hash = hash_password(new)
    ended = end_web_sessions(session, actor, keep=keep_web_session)
    audit.record(
        session, actor, AuditAction.USER_PASSWORD_CHANGED, actor, {"web_sessions_ended": ended}
    )
    return actor


def reset_password(session: Session, actor: User, username: str, new: str) -> User:
    """An admin sets a new password for a user; all of that user's web sessions end."""
    authorize(actor, Permission.MANAGE_USERS)
    user = get_user(session, username)
    check_new_password(new, user.username)
    user.password_hash = hash_password(new)
    ended = end_web_sessions(session, user)
    audit.record(
        session, actor, AuditAction.USER_PASSWORD_RESET, user, {"web_sessions_ended": ended}
    )
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user whose password matches, else None (no hint which part was wrong)."""
    if not within_length(password):
        return None  # never hash an oversized password, known user or not
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        hash_password(password)  # same cost whether or not the user exists
        return None
    if not verify_password(user.password_hash, password) or not user.active:
        return None
    return user


def set_preferences(
    session: Session, user: User, *, language: str | None, time_zone: str | None
) -> User:
    """The user's own language and time zone; empty means the browser's language and the
    deployment's zone. Both are checked before either is kept (every problem at once)."""
    from g2p_payment_phee.i18n import LANGUAGES, _, valid_zone

    problems = []
    language = (language or "").strip() or None
    time_zone = (time_zone or "").strip() or None
    if language is not None and language not in LANGUAGES:
        reason = _("choose one of: {languages}").format(languages=", ".join(LANGUAGES.values()))
        problems.append(FieldError("language", reason))
    if time_zone is not None:
        try:
            valid_zone(time_zone)
        except ValueError:
            reason = _("{zone} is not a time zone: write its IANA name, e.g. Africa/Nairobi")
            problems.append(FieldError("time_zone", reason.format(zone=time_zone)))
    if problems:
        raise ValidationFailed("; ".join(problem.reason for problem in problems), problems)
    user.language, user.time_zone = language, time_zone
    session.flush()
    return user
