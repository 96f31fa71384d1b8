"""``GET /registrants/{reference}/payments``: a registrant's entitlements, newest cycle first,
each with every payment attempt, amounts as decimal strings, a page at a time."""

from __future__ import annotations

from sqlalchemy.orm import Session

from g2p_payment_phee.users.models import User
from tests.integration.payments.history_world import FAILURE, build_history
from tests.integration.web.api.conftest import Api

URL = "/api/v1/registrants/B000000/payments"


def test_the_history_pages_through_every_program_and_cycle(
    api: Api, session: Session, admin: User, approver: User
) -> None:
    world = build_history(session, admin, approver)
    first = api.ok("GET", f"{URL}?limit=3", "viewer")
    assert [(e["program_name"], e["cycle_name"], e["outcome"]) for e in first["items"]] == [
        ("Food Support", "Apr", "rejected"),
        ("Cash Transfer", "Mar", "cancelled"),
        ("Cash Transfer", "Feb", "paid"),
    ]
    rejected, cancelled, retried = first["items"]
    assert (rejected["amount"], rejected["currency"], rejected["state"]) == (
        "400",
        "KES",
        "rejected",
    )
    assert (rejected["payments"], rejected["attempts"]) == ([], 0)
    assert rejected["cycle_id"] == str(world.rejected.id)
    assert [p["outcome"] for p in cancelled["payments"]] == ["cancelled"]
    failed, paid = retried["payments"]
    assert (failed["outcome"], failed["failure_reason"], failed["batch_sequence"]) == (
        "failed",
        FAILURE,
        1,
    )
    assert (paid["outcome"], paid["amount_issued"], paid["amount_paid"]) == ("paid", "200", "200")
    assert paid["phee_transaction_id"] == f"tx-{paid['request_id']}"
    assert None not in (paid["batch_name"], paid["batch_id"], paid["settled_at"])

    rest = api.ok("GET", f"{URL}?limit=3&cursor={first['next_cursor']}", "viewer")
    assert [e["cycle_name"] for e in rest["items"]] == ["Jan"]
    assert rest["next_cursor"] is None


def test_an_unknown_registrant_or_a_bad_cursor_is_refused(
    api: Api, session: Session, admin: User, approver: User
) -> None:
    build_history(session, admin, approver)
    missing = api.get("/api/v1/registrants/NOBODY/payments")
    assert missing.status_code == 404
    bad = api.get(f"{URL}?cursor=bm90LWEtY3Vyc29y")
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "cursor"
