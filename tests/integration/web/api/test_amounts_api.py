"""Amounts in API bodies: JSON strings of plain decimal text or JSON integers; all else a 422."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee.users.models import User
from tests.integration.web.api.conftest import Api
from tests.integration.web.api.world import World, build_world

V1 = "/api/v1"
REFUSED: list[Any] = ["5e2", 1.5, 500.0, "١٢٣", "1_000", "1,000", "-5", True, "NaN"]


@pytest.fixture
def world(session: Session, admin: User, approver: User) -> World:
    return build_world(session, admin, approver)


@pytest.mark.parametrize("amount", REFUSED)
def test_an_odd_entitlement_amount_is_a_422_naming_the_field(
    api: Api, world: World, amount: Any
) -> None:
    path = f"{V1}/cycles/{world.draft_cycle}/entitlements"
    answer = api.post(path, "program_manager", json={"amount": amount})
    assert answer.status_code == 422, answer.text
    assert [f["field"] for f in answer.json()["error"]["fields"]] == ["amount"]
    answer = api.post(path, "program_manager", json={"amount": "10", "transfer_fee": amount})
    assert answer.status_code == 422, answer.text
    assert [f["field"] for f in answer.json()["error"]["fields"]] == ["transfer_fee"]


@pytest.mark.parametrize("amount", ["10", "10.50", 10])
def test_plain_text_and_integer_amounts_are_accepted(api: Api, world: World, amount: Any) -> None:
    path = f"{V1}/cycles/{world.draft_cycle}/entitlements"
    assert "added" in api.ok("POST", path, "program_manager", json={"amount": amount})


@pytest.mark.parametrize("budget", REFUSED)
def test_an_odd_program_budget_is_a_422_and_no_program(api: Api, budget: Any) -> None:
    body = {"name": "Budgeted", "currency": "KES", "budget": budget}
    answer = api.post(V1 + "/programs", "program_manager", json=body)
    assert answer.status_code == 422, answer.text
    assert [f["field"] for f in answer.json()["error"]["fields"]] == ["budget"]


def test_a_plain_budget_is_kept_exactly(api: Api) -> None:
    body = {"name": "Budgeted", "currency": "KES", "budget": "1500.50"}
    created = api.ok("POST", V1 + "/programs", "program_manager", json=body)
    assert created["budget"] == "1500.5"
