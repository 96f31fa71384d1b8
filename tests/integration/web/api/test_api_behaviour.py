"""Pagination, 404s, validation errors and secrets through the API."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee.users.models import User
from tests.integration.web.api.conftest import Api
from tests.integration.web.api.test_roles import CASES, _fill
from tests.integration.web.api.world import SECRETS, World, build_world

V1 = "/api/v1"


@pytest.fixture
def world(session: Session, admin: User, approver: User) -> World:
    return build_world(session, admin, approver)


def test_cursor_round_trip_and_limit_bounds(api: Api, world: World) -> None:
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        params = {"cycle_id": world.cycle, "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = api.ok("GET", V1 + "/payments", "viewer", params=params)
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(set(seen)) == 3
    assert seen == sorted(seen)
    for limit in (0, 501, -5):
        answer = api.get(V1 + "/payments", "viewer", params={"limit": limit})
        assert answer.status_code == 422
        assert answer.json()["error"]["fields"][0]["field"] == "limit"
    bad = api.get(V1 + "/audit-events", "viewer", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"] == [
        {"field": "cursor", "reason": "not a cursor from a previous page", "row": None}
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/programs/{x}",
        "/programs/{x}/manager",
        "/cycles/{x}",
        "/cycles/{x}/batches",
        "/batches/{x}",
        "/batches/{x}/csv",
        "/payments/{x}",
        "/jobs/{x}",
        "/registrants/NOBODY",
    ],
)
def test_unknown_ids_are_404_json(api: Api, world: World, path: str) -> None:
    answer = api.get(V1 + path.format(x=uuid.uuid4()), "viewer")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_malformed_ids_and_payloads_are_422_with_fields(api: Api, world: World) -> None:
    answer = api.get(V1 + "/cycles/not-a-uuid", "viewer")
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"][0]["field"] == "cycle_id"
    answer = api.post(V1 + "/programs", "program_manager", json={"name": "", "currency": "K"})
    assert answer.status_code == 422
    fields = {f["field"] for f in answer.json()["error"]["fields"]}
    assert fields == {"name", "currency"}
    answer = api.call(
        "PUT",
        f"{V1}/programs/{world.program}/manager",
        "admin",
        json={"settings": {"max_batch_size": 0, "batch_type_header": "type"}},
    )
    assert answer.status_code == 422
    fields = {f["field"] for f in answer.json()["error"]["fields"]}
    assert fields == {"max_batch_size", "batch_type_header"}
    answer = api.post(
        V1 + "/programs", "program_manager", json={"name": "A\u0000", "currency": "KES"}
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"][0]["field"] == "body.name"


def test_secrets_never_in_an_answer_or_a_log_line(
    api: Api, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    new_secret = "rotated-secret-7e41"
    bodies = []
    shown = api.call(
        "PUT",
        f"{V1}/programs/{world.program}/manager",
        "admin",
        json={"secrets": {"password": new_secret}},
    )
    bodies.append(shown.text)
    assert shown.json()["secrets"]["password"] == "set"
    test = api.ok("POST", f"{V1}/programs/{world.program}/manager/test-connection", "admin")
    assert test["ok"] is False
    assert "127.0.0.1:9" in test["message"]
    bodies.append(str(test))
    job = api.ok("POST", f"{V1}/cycles/{world.cycle}/send", "approver")
    api.wait(job)
    ids = {**world.__dict__, "job": job["id"], "own_token": str(uuid.uuid4())}
    for case in CASES:
        if case.method == "GET":
            bodies.append(api.get(V1 + _fill(case.path, ids), "admin").text)
    bodies.append(api.get(f"{V1}/jobs/{job['id']}").text)
    everything = "\n".join(bodies) + caplog.text
    for secret in (*SECRETS.values(), new_secret):
        assert secret not in everything
    for role, token in api.tokens.items():
        assert token not in everything, role


def test_amounts_are_strings_without_trailing_zeros(api: Api, world: World) -> None:
    batch = api.ok("GET", V1 + f"/batches/{world.batch}", "viewer")
    payment = api.ok("GET", V1 + f"/payments/{world.payment}", "viewer")
    amounts = [batch["issued_amount"], batch["paid_amount"], payment["amount_issued"]]
    assert all(isinstance(a, str) for a in amounts)
    assert batch["issued_amount"] != "0"
    for amount in amounts:
        assert "e" not in amount.lower()
        assert not (("." in amount) and amount.endswith("0")), amount
        assert not amount.endswith(".")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("400.0000", "400"),
        ("12.5000", "12.5"),
        ("0.0000", "0"),
        ("1E+3", "1000"),
        ("-3.10", "-3.1"),
    ],
)
def test_amount_text(value: str, text: str) -> None:
    from decimal import Decimal

    from g2p_payment_phee.web.api.schemas import amount_text

    assert amount_text(Decimal(value)) == text


def test_openapi_describes_manager_settings_with_the_seed_s_labels(api: Api) -> None:
    """The JSON keys stay the code names; the description gives each its label and choices."""
    schema = api.ok("GET", V1 + "/openapi.json", None)
    described = schema["components"]["schemas"]["ManagerUpdate"]["properties"]["settings"]
    text = described["description"]
    assert "`create_batch` — Automatically Create Batch" in text
    assert "`payee_id_type` — Payee ID Field" in text
    assert "`bank_acc_no` (Bank Account Number)" in text
    assert "`reg_id_type_for_payee_id` — Payee DFSP ID Type" in text
    assert "For a `default` manager:" in text
