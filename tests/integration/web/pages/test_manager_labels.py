"""The PHEE manager form shows the seed's labels for settings and choices (the values sent
stay the code names)."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy.orm import Session

from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.programs.models import ManagerKind
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.web.pages.builders import phee_settings
from tests.integration.web.pages.conftest import Browser


def test_the_manager_form_shows_the_seed_s_labels(
    as_user: Callable[[User], Browser], admin: User, session: Session
) -> None:
    program = factories.program(session, admin)
    configure_manager(session, admin, program, ManagerKind.PHEE, phee_settings(), {})
    session.commit()
    page = as_user(admin).get(f"/programs/{program.id}/manager").text
    for label in (
        "Automatically Create Batch",
        "Payee ID Field",
        "Payee DFSP ID Type",
        "Payee ID Type Rewritten",
        "Batch Transaction Purpose Header",
        "Tenant ID",
        "Password",
    ):
        assert label in page, label
    assert "payee id type" not in page  # the code name, no longer the label
    select_ = re.search(r'<select name="payee_id_type"[^>]*>(.*?)</select>', page, re.S)
    assert select_ is not None
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select_.group(1))
    assert options == [
        ("bank_acc_no", "Bank Account Number"),
        ("bank_acc_iban", "IBAN"),
        ("phone", "Phone"),
        ("email", "Email"),
        ("reg_id", "Registrant ID"),
    ]
