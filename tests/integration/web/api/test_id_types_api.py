"""``/api/v1/id-types``: list, create and disable ID types; bad input is a specific error."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.registry.models import IdType
from tests.integration.web.api.conftest import Api

BASE = "/api/v1/id-types"


def test_create_list_and_disable(api: Api) -> None:
    created = api.ok(
        "POST",
        BASE,
        "program_manager",
        json={"name": "National ID", "validation_regex": "[0-9]{8}", "description": "Kenya"},
    )
    assert (created["name"], created["validation_regex"], created["enabled"]) == (
        "National ID",
        "[0-9]{8}",
        True,
    )
    api.ok("POST", BASE, "admin", json={"name": "Passport/Visa"})
    disabled = api.ok("POST", f"{BASE}/Passport%2FVisa/disable", "program_manager")
    assert (disabled["name"], disabled["enabled"]) == ("Passport/Visa", False)
    assert disabled["disabled_at"] is not None
    listed = api.ok("GET", BASE, "viewer")["items"]
    assert [(t["name"], t["description"], t["enabled"]) for t in listed] == [
        ("National ID", "Kenya", True),
        ("Passport/Visa", "", False),
    ]


def test_bad_input_is_a_specific_error_and_writes_nothing(api: Api, session: Session) -> None:
    api.ok("POST", BASE, json={"name": "National ID"})
    bad = api.post(BASE, json={"name": "Passport", "validation_regex": "[A-Z"})
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["code"] == "validation_failed"
    assert [f["field"] for f in error["fields"]] == ["validation_regex"]
    assert "not a valid regular expression" in error["fields"][0]["reason"]

    taken = api.post(BASE, json={"name": "national id"})
    assert taken.status_code == 409
    assert "'National ID' already exists" in taken.json()["error"]["message"]

    unknown = api.post(f"{BASE}/Visa/disable")
    assert unknown.status_code == 404
    assert "no ID type 'Visa' (known: National ID)" in unknown.json()["error"]["message"]

    refused = api.post(BASE, "approver", json={"name": "Visa"})
    assert refused.status_code == 403
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(IdType)) == 1
