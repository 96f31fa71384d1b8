"""A user changes their own password; an admin resets someone's. Both end web sessions."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from g2p_payment_phee.users import auth, service
from g2p_payment_phee.users.models import Role, User
from tests import factories

NEW = "gravel-otter-lantern"


def test_change_needs_the_current_password_and_a_strong_new_one(
    session: Session, viewer: User
) -> None:
    with pytest.raises(ValidationFailed, match="current password is wrong"):
        service.change_password(session, viewer, current="not-it-at-all", new=NEW)
    with pytest.raises(ValidationFailed, match="too easy"):
        service.change_password(session, viewer, current=factories.PASSWORD, new="aaaaaaaaaaaa")
    with pytest.raises(ValidationFailed, match="differ"):
        service.change_password(session, viewer, current=factories.PASSWORD, new=factories.PASSWORD)
    assert service.authenticate(session, viewer.username, factories.PASSWORD) is viewer


def test_change_ends_the_other_web_sessions_but_keeps_this_one_and_tokens(
    session: Session, viewer: User
) -> None:
    here = auth.sign_in(session, viewer.username, factories.PASSWORD, "10.0.0.1")
    there = auth.sign_in(session, viewer.username, factories.PASSWORD, "10.0.0.2")
    token = auth.create_api_token(session, viewer, "reporting")
    service.change_password(
        session, viewer, current=factories.PASSWORD, new=NEW, keep_web_session=here.session.id
    )
    session.commit()
    assert service.authenticate(session, viewer.username, factories.PASSWORD) is None
    assert service.authenticate(session, viewer.username, NEW) is viewer
    assert auth.session_user(session, here.token).user_id == viewer.id
    with pytest.raises(NotAuthenticated):
        auth.session_user(session, there.token)
    assert auth.token_user(session, token.token).id == viewer.id
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.password_changed")
    ).one()
    assert event.data == {"web_sessions_ended": 1}


def test_admin_reset_sets_the_password_ends_web_sessions_and_is_audited(
    session: Session, admin: User, viewer: User
) -> None:
    web = auth.sign_in(session, viewer.username, factories.PASSWORD, "10.0.0.1")
    service.reset_password(session, admin, viewer.username, NEW)
    session.commit()
    with pytest.raises(NotAuthenticated):
        auth.session_user(session, web.token)
    assert service.authenticate(session, viewer.username, NEW) is viewer
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.password_reset")
    ).one()
    assert (event.actor_name, event.subject_id, event.data) == (
        "admin",
        viewer.id,
        {"web_sessions_ended": 1},
    )


def test_only_admins_reset_and_the_rules_still_apply(
    session: Session, admin: User, manager: User
) -> None:
    with pytest.raises(PermissionDenied):
        service.reset_password(session, manager, "admin", NEW)
    with pytest.raises(ValidationFailed, match="username"):
        service.reset_password(session, admin, "maker", "maker-gravel-otter")
    with pytest.raises(ValidationFailed, match="at most 1000"):
        service.reset_password(session, admin, "maker", "x" * 1001)
    assert service.authenticate(session, "maker", factories.PASSWORD) is manager


def test_new_users_get_the_same_rules(session: Session, admin: User) -> None:
    with pytest.raises(ValidationFailed, match="username"):
        service.create_user(
            session, admin, username="carol", password="carol-gravel-otter", role=Role.VIEWER
        )
    with pytest.raises(ValidationFailed, match="too easy"):
        service.create_user(
            session, admin, username="carol", password="aaaaaaaaaa", role=Role.VIEWER
        )
