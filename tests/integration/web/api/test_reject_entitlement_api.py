"""``POST /api/v1/cycles/{id}/entitlements/{code}/reject``: an approver refuses one pending
entitlement, saying why; what it answers, and each refusal with its stable code."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.programs.models import Entitlement
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.web.api.conftest import Api


def _reject(api: Api, cycle: object, code: str, who: str = "approver", **body: Any) -> Any:
    path = f"/api/v1/cycles/{cycle}/entitlements/{code}/reject"
    return api.post(path, who, json=body or {"reason": "duplicate person"})


def test_an_approver_rejects_one_entitlement_through_the_api(
    api: Api, session: Session, manager: User
) -> None:
    cycle = factories.pending_cycle(session, manager, beneficiaries=2)
    session.commit()
    first, second = sorted(session.scalars(select(Entitlement.code)))

    answer = _reject(api, cycle.id, first)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["code"], answer.json()["state"]) == (first, "rejected")
    again = _reject(api, cycle.id, first)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_transition")
    blank = _reject(api, cycle.id, second, reason="")
    assert blank.status_code == 422
    unknown = _reject(api, cycle.id, "E-NOPE")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    refused = _reject(api, cycle.id, second, who="viewer")
    assert refused.status_code == 403
    approved = api.ok("POST", f"/api/v1/cycles/{cycle.id}/approve", "approver")
    assert approved["message"] == "1 entitlements approved"
    late = _reject(api, cycle.id, second)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "business_rule_violation")
    states = api.ok("GET", f"/api/v1/cycles/{cycle.id}", "viewer")["entitlements"]
    assert {k: v["count"] for k, v in states.items()} == {"approved": 1, "rejected": 1}
