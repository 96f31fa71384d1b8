"""The API reports what the hub says that people must act on (SPEC 2.3): payments paid more than
once in the cycle answer (always present), their acknowledgement by an approver only, and why
a batch being sent or with an unknown outcome waits, until when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.payments.duplicates import record_duplicate_batches
from g2p_payment_phee.users.models import User
from tests.integration.web.api.conftest import Api
from tests.integration.web.hub_findings import hub_pays_twice, outcome_unknown, paid_cycle
from tests.integration.web.pages.builders import prepared_cycle

NONE_PAID_TWICE = {
    "payments": 0,
    "times_paid": 0,
    "amount_paid": "0",
    "amount_extra": "0",
    "currency": None,
    "unacknowledged": 0,
    "batches_duplicated_at_hub": [],
    "records": [],
}


def test_the_cycle_answer_reports_payments_paid_twice(
    api: Api, session: Session, admin: User, approver: User
) -> None:
    paid = paid_cycle(session, admin, approver, size=3)
    session.commit()
    cycle_url = f"/api/v1/cycles/{paid.cycle.id}"
    fresh = api.ok("GET", cycle_url, "viewer")
    assert fresh["paid_twice"] == NONE_PAID_TWICE
    assert fresh["waiting_batches"] == []

    twice = hub_pays_twice(session, paid, count=2)
    first = paid.batches[0]
    record_duplicate_batches(session, None, first, ["PHEE-1", "PHEE-9"])
    session.commit()
    found = api.ok("GET", cycle_url, "viewer")["paid_twice"]
    assert {k: found[k] for k in ("payments", "times_paid", "unacknowledged")} == {
        "payments": 2,
        "times_paid": 4,
        "unacknowledged": 2,
    }
    assert (found["amount_paid"], found["amount_extra"], found["currency"]) == ("400", "200", "KES")
    assert found["batches_duplicated_at_hub"] == [
        {"batch": first.name, "other_phee_batch_ids": ["PHEE-9"]}
    ]
    records = {r["payment_id"]: r for r in found["records"]}
    assert set(records) == {str(p.id) for p in twice}
    one = records[str(twice[0].id)]
    assert [(o["phee_batch_id"], o["amount"], o["transaction_id"]) for o in one["occurrences"]] == [
        ("PHEE-1", "100", f"TX-{twice[0].id}"),
        ("PHEE-DUP", "100", "TX-DUP-0"),
    ]
    assert (one["times_paid"], one["amount_paid"], one["acknowledged_at"]) == (2, "200", None)
    assert one["correlation_id"] == first.correlation_id

    batch = api.ok("GET", f"/api/v1/batches/{first.id}", "viewer")
    assert batch["phee_duplicate_ids"] == ["PHEE-9"]
    assert batch["waiting"] is None
    listed = api.ok("GET", f"{cycle_url}/batches", "viewer")["items"]
    assert [b["phee_duplicate_ids"] for b in listed] == [["PHEE-9"], []]


def test_only_an_approver_acknowledges_and_distribution_waits_for_it(
    api: Api, session: Session, admin: User, approver: User
) -> None:
    paid = paid_cycle(session, admin, approver, size=2)
    hub_pays_twice(session, paid)
    session.commit()
    cycle_url = f"/api/v1/cycles/{paid.cycle.id}"
    acknowledge = f"{cycle_url}/paid-twice/acknowledge"

    refused = api.post(f"{cycle_url}/distribute", "approver")
    assert refused.status_code == 409, refused.text
    assert "PAID TWICE" in refused.json()["error"]["message"]
    for role in ("program_manager", "viewer"):
        denied = api.post(acknowledge, role, json={"reason": "recovered"})
        assert denied.status_code == 403, denied.text
        assert denied.json()["error"]["code"] == "permission_denied"
    for blank in ("", "   "):
        answer = api.post(acknowledge, "approver", json={"reason": blank})
        assert answer.status_code == 422, answer.text
    assert api.ok("GET", cycle_url)["paid_twice"]["unacknowledged"] == 1  # nothing changed

    done = api.ok("POST", acknowledge, "approver", json={"reason": " recovered from the payee "})
    assert done["acknowledged"] == 1
    assert done["paid_twice"]["unacknowledged"] == 0
    assert done["paid_twice"]["payments"] == 1  # still reported, never hidden
    record = done["paid_twice"]["records"][0]
    assert record["acknowledged_reason"] == "recovered from the payee"
    assert record["acknowledged_at"] is not None
    again = api.post(acknowledge, "admin", json={"reason": "twice"})
    assert again.status_code == 409, again.text
    assert "no payments paid twice to acknowledge" in again.json()["error"]["message"]
    assert api.ok("POST", f"{cycle_url}/distribute", "approver")["cycle"]["state"] == "distributed"


def test_waiting_batches_say_why_and_until_when(
    api: Api, session: Session, admin: User, approver: User
) -> None:
    cycle = prepared_cycle(session, admin, approver, size=3)
    waiting = cycle.batches[0]
    started = outcome_unknown(session, waiting)
    session.commit()
    quiet = started + get_settings().unknown_outcome_quiet

    listed = api.ok("GET", f"/api/v1/cycles/{cycle.cycle.id}", "viewer")["waiting_batches"]
    assert [(w["batch"], w["state"]) for w in listed] == [(waiting.name, "outcome_unknown")]
    assert "it is looked up, never resent, until" in listed[0]["reason"]
    assert datetime.fromisoformat(listed[0]["until"]) == quiet
    batch = api.ok("GET", f"/api/v1/batches/{waiting.id}", "viewer")
    assert batch["waiting"]["reason"] == listed[0]["reason"]
    assert datetime.fromisoformat(batch["waiting"]["until"]) == quiet
    other = api.ok("GET", f"/api/v1/batches/{cycle.batches[1].id}", "viewer")
    assert other["waiting"] is None
