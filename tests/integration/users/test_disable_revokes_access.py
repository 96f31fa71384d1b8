"""Disabling a user ends their web sessions and API tokens for good; enabling restores only the
account."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.errors import NotAuthenticated
from g2p_payment_phee.users import auth, service
from g2p_payment_phee.users.models import User
from tests import factories


def test_disable_then_enable_leaves_old_sessions_and_tokens_dead(
    session: Session, admin: User, viewer: User
) -> None:
    web = auth.sign_in(session, viewer.username, factories.PASSWORD, "10.0.0.1")
    api = auth.create_api_token(session, viewer, "reporting")
    admins_web = auth.sign_in(session, "admin", factories.PASSWORD, "10.0.0.2")
    session.commit()

    service.set_active(session, admin, viewer.username, active=False)
    session.commit()
    service.set_active(session, admin, viewer.username, active=True)
    session.commit()

    with pytest.raises(NotAuthenticated):
        auth.session_user(session, web.token)
    with pytest.raises(NotAuthenticated):
        auth.token_user(session, api.token)
    # only the disabled user's access ended
    assert auth.session_user(session, admins_web.token).user.id == admin.id
    # the account itself works again: a fresh sign-in and a fresh token
    again = auth.sign_in(session, viewer.username, factories.PASSWORD, "10.0.0.1")
    assert auth.session_user(session, again.token).user.id == viewer.id
    fresh = auth.create_api_token(session, viewer, "new")
    assert auth.token_user(session, fresh.token).id == viewer.id


def test_disabling_is_audited_with_what_it_ended(
    session: Session, admin: User, viewer: User
) -> None:
    auth.sign_in(session, viewer.username, factories.PASSWORD, "10.0.0.1")
    auth.sign_in(session, viewer.username, factories.PASSWORD, "10.0.0.3")
    auth.create_api_token(session, viewer, "reporting")
    service.set_active(session, admin, viewer.username, active=False)
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.disabled")).one()
    assert event.data == {"web_sessions_ended": 2, "api_tokens_revoked": 1}
