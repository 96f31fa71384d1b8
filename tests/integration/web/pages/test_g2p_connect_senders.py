"""The G2P Connect senders page: register a sender (its secret shown once), disable it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.g2p_connect.models import G2PConnectSender
from g2p_payment_phee.programs.models import ManagerKind
from g2p_payment_phee.programs.service import create_program
from g2p_payment_phee.security import token_matches
from g2p_payment_phee.users.models import User
from tests.integration.web.pages.conftest import Browser


def test_an_admin_registers_a_sender_and_sees_its_secret_once(
    session: Session, admin: User, as_user: Callable[[User], Browser]
) -> None:
    program = create_program(
        session, admin, name="Cash", currency="KES", manager_kind=ManagerKind.DEFAULT
    )
    session.commit()
    browser = as_user(admin)
    assert "G2P Connect senders" in browser.get("/").text  # in the menu
    answer = browser.post(
        "/g2p-connect/senders",
        {"sender_id": "county-mis", "program": str(program.id), "auto_approve": "1"},
    )
    assert answer.status_code == 201, answer.text[:500]
    session.expire_all()
    sender = session.scalar(select(G2PConnectSender))
    assert sender is not None
    assert sender.auto_approve
    assert sender.service_user_id is not None
    shown = answer.text.split('class="secret"><bdi>')[1].split("<")[0]
    assert token_matches(shown, sender.client_secret_hash)
    listed = browser.get("/g2p-connect/senders").text
    assert "county-mis" in listed
    assert shown not in listed  # never shown again
    disabled = browser.post("/g2p-connect/senders/county-mis/disable", {})
    assert disabled.status_code == 303
    session.expire_all()
    assert session.scalar(select(G2PConnectSender.disabled_at)) is not None


def test_a_bad_public_key_comes_back_next_to_its_field(
    session: Session, admin: User, as_user: Callable[[User], Browser]
) -> None:
    program = create_program(
        session, admin, name="Cash", currency="KES", manager_kind=ManagerKind.DEFAULT
    )
    session.commit()
    answer = as_user(admin).post(
        "/g2p-connect/senders",
        {"sender_id": "mis", "program": str(program.id), "public_key": "not a key"},
    )
    assert answer.status_code == 422
    assert "ed25519 public key" in answer.text
    session.expire_all()
    assert session.scalar(select(G2PConnectSender)) is None
