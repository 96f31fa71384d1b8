"""``GET /api/v1/cycles/{id}`` reports payments the hub accepted long ago and has not made
final (SPEC 3.4), oldest batches first."""

from __future__ import annotations

from tests.integration.phee.conftest import PheeProgram, phee_program  # noqa: F401 - fixture
from tests.integration.phee.test_overdue import accepted_ago, sent_cycle
from tests.integration.web.api.conftest import Api


def test_the_cycle_answer_reports_overdue_payments(api: Api, phee_program: PheeProgram) -> None:  # noqa: F811
    p = phee_program
    cycle = sent_cycle(p, 3)
    old, recent = p.batches(cycle)
    fresh = api.ok("GET", f"/api/v1/cycles/{cycle.id}", "viewer")["overdue"]
    assert fresh == {
        "older_than_hours": 48,
        "payments": 0,
        "batches": 0,
        "oldest_submitted_at": None,
        "listed_batches": [],
    }
    accepted_ago(p, old, 60)
    accepted_ago(p, recent, 50)
    overdue = api.ok("GET", f"/api/v1/cycles/{cycle.id}", "viewer")["overdue"]
    assert (overdue["payments"], overdue["batches"]) == (3, 2)
    listed = overdue["listed_batches"]
    assert [(b["name"], b["open"]) for b in listed] == [(old.name, 2), (recent.name, 1)]
    assert [b["phee_batch_id"] for b in listed] == [old.phee_batch_id, recent.phee_batch_id]
    assert overdue["oldest_submitted_at"] == listed[0]["submitted_at"]
