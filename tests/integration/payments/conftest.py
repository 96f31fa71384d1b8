"""A program paid through the PHEE manager, for the payments tests."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.programs.models import ManagerKind, Program
from g2p_payment_phee.users.models import User
from tests import factories


@pytest.fixture
def program(session: Session, admin: User) -> Program:
    return factories.program(session, admin)


@pytest.fixture
def phee(session: Session, admin: User, program: Program):
    """Configure the program's PHEE manager with the given settings (phone payees by default)."""

    def configure(**settings: Any) -> None:
        values = {"tenant_id": "gorilla", "payee_id_type": "phone", **settings}
        configure_manager(session, admin, program, ManagerKind.PHEE, values)

    configure()
    return configure
