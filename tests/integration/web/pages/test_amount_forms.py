"""Amounts typed into forms: thousands grouping understood, problems said on the field by its
label, and re-adding entitlements says why nothing changed and how to change amounts."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.programs import service
from g2p_payment_phee.programs.models import Cycle, Entitlement, Program
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.web.pages.conftest import Browser


def _draft(session: Session, manager: User) -> tuple[Program, Cycle]:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=1)
    factories.registrant(session, "LATE-1")  # enrolled after the first entitlements
    service.enrol(session, manager, program)
    session.commit()
    return program, cycle


def test_a_grouped_amount_is_understood_and_re_adding_explains_itself(
    session: Session, manager: User, as_user: Callable[[User], Browser]
) -> None:
    _, cycle = _draft(session, manager)
    browser = as_user(manager)
    url = f"/cycles/{cycle.id}"
    added = browser.post(f"{url}/entitlements", {"amount": "1,500", "fee": "1 000.50"}, page=url)
    assert added.status_code == 303
    assert "1 entitlement added." in browser.get(url).text
    session.expire_all()
    fees = session.execute(
        select(Entitlement.initial_amount, Entitlement.transfer_fee).where(
            Entitlement.cycle_id == cycle.id, Entitlement.initial_amount != 100
        )
    ).all()
    assert [(Decimal(a), Decimal(f)) for a, f in fees] == [(Decimal(1500), Decimal("1000.50"))]
    again = browser.post(f"{url}/entitlements", {"amount": "2000"}, page=url)
    assert again.status_code == 303
    page = browser.get(url).text
    assert '<p class="flash warn" role="status">No entitlements added: every enrolled' in page
    assert "an existing entitlement keeps its amount" in page
    assert "import a file of amounts below" in page


def test_an_unclear_amount_and_a_bad_fee_are_said_on_their_fields(
    session: Session, manager: User, as_user: Callable[[User], Browser]
) -> None:
    _, cycle = _draft(session, manager)
    browser = as_user(manager)
    url = f"/cycles/{cycle.id}"
    unclear = browser.post(f"{url}/entitlements", {"amount": "1,5"}, page=url)
    assert unclear.status_code == 422
    assert "&#39;1,5&#39; is unclear: write 1.5 for a decimal amount" in unclear.text
    bad_fee = browser.post(f"{url}/entitlements", {"amount": "10", "fee": "-1"}, page=url)
    assert bad_fee.status_code == 422
    assert "Transfer fee: must be 0 or more" in bad_fee.text
    assert 'class="field-error" role="alert">must be 0 or more' in bad_fee.text
    assert "amount must be" not in bad_fee.text


def test_a_budget_may_be_grouped_by_spaces(
    manager: User, session: Session, as_user: Callable[[User], Browser]
) -> None:
    browser = as_user(manager)
    sent = {"name": "Grouped", "currency": "KES", "budget": "1\u00a0500\u00a0000"}
    assert browser.post("/programs", sent, page="/programs").status_code == 303
    budget = session.scalar(select(Program.budget).where(Program.name == "Grouped"))
    assert budget == Decimal(1500000)


def test_the_service_names_the_fee_for_the_api_and_the_cli(session: Session, manager: User) -> None:
    _, cycle = _draft(session, manager)
    with pytest.raises(ValidationFailed, match=r"^transfer fee: must be ≥ 0") as refused:
        service.add_fixed_entitlements(session, manager, cycle, amount="5", transfer_fee="-1")
    assert [problem.field for problem in refused.value.errors] == ["transfer_fee"]
