"""Every API route × every role: allowed roles get past authorisation, the others get 403 with a
reason; no token, an unknown token and a revoked token get 401."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.jobs.runner import stop_job_runner
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.app import create_app
from tests.integration.web.api.conftest import ROLES, Api
from tests.integration.web.api.world import World, build_world

ALL = frozenset(ROLES)
ADMIN = frozenset({"admin"})
MAKERS = frozenset({"admin", "program_manager"})
CHECKERS = frozenset({"admin", "approver"})
REGISTRANTS_CSV = b"reference,kind,name\nN-1,individual,New Person\n"
AMOUNTS_CSV = b"registrant_reference,amount\nB000001,75\n"


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    allowed: frozenset[str]
    json: Any = None
    files: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


CASES = [
    Case("GET", "/me", ALL),
    Case("GET", "/me/tokens", ALL),
    Case("POST", "/me/tokens", ALL, json={"name": "laptop"}),
    Case("DELETE", "/me/tokens/{own_token}", ALL),
    Case("GET", "/users", ADMIN),
    Case(
        "POST", "/users", ADMIN, json={"username": "newbie", "password": "x" * 16, "role": "viewer"}
    ),
    Case("POST", "/users/{spare_user}/disable", ADMIN),
    Case("POST", "/users/{spare_user}/enable", ADMIN),
    Case("POST", "/users/{spare_user}/password", ADMIN, json={"password": "gravel-otter-lantern"}),
    Case(
        "POST",
        "/me/password",
        ALL,
        json={"current_password": "not-the-password", "new_password": "gravel-otter-lantern"},
    ),
    Case("GET", "/registrants", ALL),
    Case("GET", "/registrants/{registrant}", ALL),
    Case("GET", "/registrants/{registrant}/payments", ALL),
    Case("POST", "/registrants/import", MAKERS, files={"file": ("people.csv", REGISTRANTS_CSV)}),
    Case("GET", "/id-types", ALL),
    Case("POST", "/id-types", MAKERS, json={"name": "Passport", "validation_regex": "[A-Z][0-9]+"}),
    Case("POST", "/id-types/{id_type}/disable", MAKERS),
    Case("GET", "/g2p-connect/senders", ADMIN),
    Case("POST", "/g2p-connect/senders", ADMIN, json={"sender_id": "mis", "program": "{program}"}),
    Case("POST", "/g2p-connect/senders/{sender}/disable", ADMIN),  # none: 404 after the check
    Case("GET", "/programs", ALL),
    Case("POST", "/programs", MAKERS, json={"name": "Another", "currency": "KES"}),
    Case("GET", "/programs/{program}", ALL),
    Case("POST", "/programs/{program}/enrolments", MAKERS, json={"all": True}),
    Case("GET", "/programs/{program}/cycles", ALL),
    Case(
        "POST",
        "/programs/{program}/cycles",
        MAKERS,
        json={"name": "Next", "start_date": "2027-02-01", "end_date": "2027-02-28"},
    ),
    Case("GET", "/programs/{program}/manager", ALL),
    Case("PUT", "/programs/{program}/manager", ADMIN, json={"settings": {"max_batch_size": 100}}),
    Case("POST", "/programs/{program}/manager/test-connection", ADMIN),
    Case("GET", "/managers", ALL),
    Case("GET", "/phee-defaults", ADMIN),
    Case("PUT", "/phee-defaults", ADMIN, json={"settings": {"tenant_id": "gorilla"}}),
    Case("GET", "/cycles/{cycle}", ALL),
    Case("GET", "/cycles/{cycle}/entitlements", ALL),
    Case("POST", "/cycles/{draft_cycle}/entitlements", MAKERS, json={"amount": "50"}),
    Case(
        "POST",
        "/cycles/{draft_cycle}/entitlements/import",
        MAKERS,
        files={"file": ("amounts.csv", AMOUNTS_CSV)},
    ),
    Case(
        "POST",
        "/cycles/{draft_cycle}/entitlements/{entitlement}/reject",
        CHECKERS,
        json={"reason": "duplicate"},
    ),
    Case("POST", "/cycles/{draft_cycle}/submit", MAKERS),
    Case("POST", "/cycles/{draft_cycle}/approve", CHECKERS),
    Case("POST", "/cycles/{draft_cycle}/return", CHECKERS, json={"reason": "check amounts"}),
    Case("POST", "/cycles/{draft_cycle}/cancel", MAKERS, json={"reason": "not needed"}),
    Case("POST", "/cycles/{cycle}/distribute", CHECKERS),
    Case("POST", "/cycles/{cycle}/end", MAKERS),
    Case("POST", "/cycles/{cycle}/paid-twice/acknowledge", CHECKERS, json={"reason": "known"}),
    Case("POST", "/cycles/{cycle}/prepare?dry_run=true", MAKERS),
    Case("POST", "/cycles/{cycle}/prepare", MAKERS),
    Case("POST", "/cycles/{cycle}/retry-failed?dry_run=true", MAKERS),
    Case("POST", "/cycles/{cycle}/retry-failed", MAKERS),
    Case("POST", "/cycles/{cycle}/batches", MAKERS),  # none waits: 409 after the role check
    Case("POST", "/cycles/{cycle}/payments/cancel", MAKERS, json={"reason": "wrong list"}),
    Case("POST", "/cycles/{cycle}/send", CHECKERS, json={"batch_ids": ["{batch}"]}),
    Case("POST", "/cycles/{cycle}/sync", CHECKERS),
    Case("GET", "/cycles/{cycle}/batches", ALL),
    Case("GET", "/cycles/{cycle}/report?format=csv", ALL),
    Case("GET", "/batches/{batch}", ALL),
    Case("GET", "/batches/{batch}/csv", ALL),
    Case("GET", "/payments?cycle_id={cycle}", ALL),
    Case("GET", "/payments/{payment}", ALL),
    Case("GET", "/jobs", ALL),
    Case("GET", "/jobs/{job}", ALL),
    Case("GET", "/audit-events", ALL),
    Case("GET", "/exports/registrants?format=xlsx", ALL),
    Case("GET", "/exports/entitlements?cycle_id={cycle}", ALL),
    Case("GET", "/exports/payments?cycle_id={cycle}&status=failed", ALL),
    Case("GET", "/exports/audit?action=cycle.approved", ALL),
]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def test_the_matrix_covers_every_route() -> None:
    """A new route must be added to CASES (the callback route has its own tests)."""
    app = create_app(sessionmaker())
    stop_job_runner(app.state.job_runner)
    routes = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1") and "callback" not in path
        for method in operations
    }
    names = {
        "{own_token}": "{token_id}",
        "{spare_user}": "{username}",
        "{registrant}": "{reference}",
        "{draft_cycle}": "{cycle_id}",
        "{entitlement}": "{code}",
        "{id_type}": "{name}",
        "{sender}": "{sender_id}",
    }
    names |= {
        "{" + n + "}": "{" + n + "_id}" for n in ("program", "cycle", "batch", "payment", "job")
    }
    covered = set()
    for case in CASES:
        path = case.path.split("?")[0]
        for old, new in names.items():
            path = path.replace(old, new)
        covered.add((case.method, path))
    assert routes == covered


@pytest.fixture
def world(session: Session, admin: User, approver: User) -> World:
    return build_world(session, admin, approver)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_route_roles(api: Api, world: World, case: Case) -> None:
    job = api.ok("POST", f"/api/v1/cycles/{world.cycle}/sync", "approver")
    api.wait(job)
    ids = {**world.__dict__, "job": job["id"], "own_token": str(uuid.uuid4()), "id_type": "Visa"}
    ids["sender"] = "no-such-mis"
    for who in ("unknown", "revoked", None):
        answer = api.call(case.method, "/api/v1" + _fill(case.path, ids), who)
        assert answer.status_code == 401, (who, answer.text)
        assert answer.json()["error"]["code"] == "not_authenticated"
    # refused roles first: an allowed call may change what the others would find
    for role in sorted(ALL - case.allowed) + sorted(case.allowed):
        own = api.ok("POST", "/api/v1/me/tokens", role, json={"name": "matrix"})
        path = "/api/v1" + _fill(case.path, {**ids, "own_token": own["id"]})
        answer = api.call(
            case.method, path, role, json=_fill(case.json, ids), files=case.files or None
        )
        assert answer.status_code < 500, (role, answer.text)
        if role in case.allowed:
            assert answer.status_code not in (401, 403), (role, answer.text)
        else:
            assert answer.status_code == 403, (role, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "permission_denied"
            assert role in error["message"] or "may not" in error["message"], error
    if case.method != "GET":
        return
    for role in case.allowed:  # reads answer successfully
        assert api.call(case.method, "/api/v1" + _fill(case.path, ids), role).status_code == 200
