"""A whole cycle through the API against the emulator, jobs on the app's in-process runner:
import, enrol, entitlements, maker–checker approval, manager configuration and test, prepare
(dry run, then job), send, sync, payments paid and failed, retry of the failed ones, CSV."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from g2p_payment_phee.emulator import EmulatorServer
from tests.integration.phee.conftest import AUTHORIZATION, PASSWORD, hub_settings
from tests.integration.web.api.conftest import Api

V1 = "/api/v1"
FAILING = {"254700000002": "Payee account closed", "254700000004": "Blocked"}  # as in the CSV


def _people(count: int) -> bytes:
    rows = ["reference,name,phone"]
    rows += [f"P-{i:03d},Person {i},+2547000000{i:02d}" for i in range(1, count + 1)]
    rows.append("P-BAD,Nobody,not-a-phone")
    return "\n".join(rows).encode()


def _all(api: Api, path: str, who: str = "viewer", **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.ok("GET", V1 + path, who, params=query)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _job(api: Api, path: str, who: str, **kw: Any) -> dict[str, Any]:
    answer = api.post(V1 + path, who, **kw)
    assert answer.status_code == 202, answer.text
    job = api.wait(answer.json())
    assert job["state"] == "succeeded", job
    return job


def test_paying_a_cycle_through_the_api(api: Api, hub: EmulatorServer) -> None:
    files = {"file": ("people.csv", _people(6), "text/csv")}
    dry = api.ok("POST", V1 + "/registrants/import?dry_run=true", "program_manager", files=files)
    assert (dry["dry_run"], dry["created"], dry["rejected"]) == (True, 6, 1)
    assert dry["errors"][0]["row"] == 8
    assert dry["errors"][0]["field"] == "phone"
    assert _all(api, "/registrants") == []
    report = api.ok("POST", V1 + "/registrants/import", "program_manager", files=files)
    assert (report["created"], report["rejected"]) == (6, 1)

    program = api.ok(
        "POST", V1 + "/programs", "program_manager", json={"name": "Child Grant", "currency": "KES"}
    )
    pid = program["id"]
    enrolled = api.ok(
        "POST", f"{V1}/programs/{pid}/enrolments", "program_manager", json={"all": True}
    )
    assert enrolled["enrolled"] == 6
    body = {"name": "2027-01", "start_date": "2027-01-01", "end_date": "2027-01-31"}
    cycle = api.ok("POST", f"{V1}/programs/{pid}/cycles", "program_manager", json=body)
    cid = cycle["id"]
    added = api.ok(
        "POST", f"{V1}/cycles/{cid}/entitlements", "program_manager", json={"amount": "100"}
    )
    assert added["added"] == 6
    api.ok("POST", f"{V1}/cycles/{cid}/submit", "admin")
    refused = api.post(f"{V1}/cycles/{cid}/approve", "admin")  # the maker may not check
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "business_rule_violation"
    assert "maker" in refused.json()["error"]["message"]
    approved = api.ok("POST", f"{V1}/cycles/{cid}/approve", "approver")
    assert approved["cycle"]["state"] == "approved"

    manager = {
        "kind": "phee",
        "settings": {**hub_settings(hub), "max_batch_size": 2},
        "secrets": {"password": PASSWORD, "authorization": AUTHORIZATION},
    }
    shown = api.ok("PUT", f"{V1}/programs/{pid}/manager", "admin", json=manager)
    assert shown["secrets"] == {
        "password": "set",
        "authorization": "set",
        "signing_private_key": "not set",
    }
    tested = api.ok("POST", f"{V1}/programs/{pid}/manager/test-connection", "admin")
    assert tested["ok"], tested

    preview = api.ok("POST", f"{V1}/cycles/{cid}/prepare?dry_run=true", "program_manager")
    assert (preview["dry_run"], preview["created"], preview["batches"]) == (True, 6, 3)
    assert Decimal(preview["totals"]["KES"]["amount"]) == 600
    assert _all(api, "/payments", cycle_id=cid) == []
    prepared = _job(api, f"/cycles/{cid}/prepare", "program_manager")
    assert prepared["result"]["created"] == 6, prepared
    batches = _all(api, f"/cycles/{cid}/batches")
    assert [(b["sequence"], b["state"], b["issued_count"]) for b in batches] == [
        (1, "prepared", 2),
        (2, "prepared", 2),
        (3, "prepared", 2),
    ]

    hub.set_outcomes({"failing_payees": FAILING})
    _job(api, f"/cycles/{cid}/send", "approver")
    assert {b["state"] for b in _all(api, f"/cycles/{cid}/batches")} == {"submitted"}
    _job(api, f"/cycles/{cid}/sync", "approver")
    assert {b["state"] for b in _all(api, f"/cycles/{cid}/batches")} == {"completed"}
    failed = _all(api, "/payments", cycle_id=cid, status="failed")
    stored = {(p["payee_id_value"], p["failure_reason"]) for p in failed}
    assert stored == {(f"+{phone}", reason) for phone, reason in FAILING.items()}  # E.164 kept
    assert len(_all(api, "/payments", cycle_id=cid, status="paid")) == 4
    detail = api.ok("GET", f"{V1}/cycles/{cid}", "viewer")
    paid_total, failed_total = detail["payments"]["paid"], detail["payments"]["failed"]
    assert (paid_total["count"], Decimal(paid_total["amount"])) == (4, Decimal(400))
    assert (failed_total["count"], Decimal(failed_total["amount"])) == (2, Decimal(200))

    hub.set_outcomes({})
    retry = _job(api, f"/cycles/{cid}/retry-failed", "program_manager")
    assert retry["result"]["created"] == 2, retry
    _job(api, f"/cycles/{cid}/send", "approver")
    _job(api, f"/cycles/{cid}/sync", "approver")
    paid = _all(api, "/payments", cycle_id=cid, status="paid")
    assert len(paid) == 6
    assert {p["payee_id_value"] for p in paid} == {f"+2547000000{i:02d}" for i in range(1, 7)}
    api.ok("POST", f"{V1}/cycles/{cid}/distribute", "approver")
    assert api.ok("GET", f"{V1}/cycles/{cid}", "viewer")["state"] == "distributed"

    first = batches[0]
    csv = api.get(f"{V1}/batches/{first['id']}/csv", "viewer")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.content.startswith(b"id,request_id,payment_mode,")
    assert (
        csv.headers["x-content-sha256"]
        == api.ok("GET", f"{V1}/batches/{first['id']}")["csv_sha256"]
    )
    assert hub.inspect()["accepted_more_than_once"] == []
