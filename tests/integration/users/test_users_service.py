"""Users: creation rules, roles, disabling, authentication, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.errors import Conflict, PermissionDenied, ValidationFailed
from g2p_payment_phee.users import service
from g2p_payment_phee.users.models import Role, User
from g2p_payment_phee.users.permissions import Permission, authorize


def test_first_admin_needs_no_actor_but_the_second_user_does(session: Session) -> None:
    first = service.create_user(
        session, None, username="Root", password="a-long-password", role=Role.ADMIN
    )
    assert first.username == "root"
    assert first.password_hash.startswith("$argon2id$")
    with pytest.raises(PermissionDenied, match="needs a signed-in user"):
        service.create_user(
            session, None, username="second", password="a-long-password", role=Role.ADMIN
        )
    created = service.create_user(
        session, first, username="maker", password="a-long-password", role=Role.PROGRAM_MANAGER
    )
    assert created.role is Role.PROGRAM_MANAGER


def test_only_admins_create_users(session: Session, manager: User) -> None:
    with pytest.raises(PermissionDenied, match="program_manager"):
        service.create_user(
            session, manager, username="x1", password="a-long-password", role=Role.VIEWER
        )


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [("a", "a-long-password", "username"), ("ok-name", "short", "at least 10")],
)
def test_bad_usernames_and_passwords_are_refused(
    session: Session, admin: User, username: str, password: str, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        service.create_user(session, admin, username=username, password=password, role=Role.VIEWER)
    assert session.scalar(select(User).where(User.username == username)) is None


def test_duplicate_username_is_a_conflict(session: Session, admin: User) -> None:
    with pytest.raises(Conflict, match="already exists"):
        service.create_user(
            session, admin, username="ADMIN", password="a-long-password", role=Role.VIEWER
        )


def test_disabled_user_cannot_act_or_sign_in(session: Session, admin: User) -> None:
    user = service.create_user(
        session, admin, username="bob", password="a-long-password", role=Role.APPROVER
    )
    assert service.authenticate(session, "bob", "a-long-password") is user
    assert service.authenticate(session, "bob", "wrong-password") is None
    service.set_active(session, admin, "bob", active=False)
    assert service.authenticate(session, "bob", "a-long-password") is None
    with pytest.raises(PermissionDenied, match="disabled"):
        authorize(user, Permission.APPROVE)
    with pytest.raises(PermissionDenied, match="disabled"):
        service.acting_user(session, "bob")
    actions = [
        e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.created_at))
    ]
    assert actions == ["user.created", "user.disabled"]


def test_admin_cannot_disable_themself(session: Session, admin: User) -> None:
    with pytest.raises(ValidationFailed, match="your own account"):
        service.set_active(session, admin, "admin", active=False)


def test_unknown_actor_is_refused(session: Session) -> None:
    with pytest.raises(PermissionDenied, match="unknown user 'ghost'"):
        service.acting_user(session, "ghost")


def test_audit_log_refuses_updates_and_deletes(session: Session, admin: User) -> None:
    service.create_user(
        session, admin, username="eve", password="a-long-password", role=Role.VIEWER
    )
    session.commit()
    for statement in ("UPDATE audit_events SET action = 'forged'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
        session.rollback()
    assert session.scalar(select(AuditEvent.action)) == "user.created"
