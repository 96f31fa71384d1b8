"""Every page for every role: who may see it, who may act, and that refusals change nothing.

Pages are read-only for every signed-in role (except the users page: admins only); each
action answers 403 with the reason to a role that lacks it, and its form's button is not even
shown to that role.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.programs.models import Program
from g2p_payment_phee.users.models import User
from tests.integration.web.pages.builders import prepared_cycle
from tests.integration.web.pages.conftest import Browser

ROLES = ["admin", "manager", "approver", "viewer"]


@pytest.fixture
def world(session: Session, admin: User, manager: User, approver: User, viewer: User):
    paid = prepared_cycle(session, admin, approver, size=3)
    session.commit()
    return paid, {"admin": admin, "manager": manager, "approver": approver, "viewer": viewer}


def _pages(paid) -> list[str]:
    batch = paid.batches[0]
    return [
        "/",
        "/registrants",
        "/registrants/B000000",
        "/registrants/import/template.csv",
        "/registrants/import/template.xlsx",
        "/id-types",
        "/programs",
        f"/programs/{paid.program.id}",
        f"/programs/{paid.program.id}/manager",
        "/managers",
        f"/cycles/{paid.cycle.id}",
        f"/cycles/{paid.cycle.id}/batches",
        f"/cycles/{paid.cycle.id}/entitlements",
        f"/cycles/{paid.cycle.id}/entitlements?state=approved",
        f"/cycles/{paid.cycle.id}/report.xlsx",
        f"/cycles/{paid.cycle.id}/report.csv",
        f"/batches/{batch.id}",
        f"/batches/{batch.id}/file",
        f"/payments?cycle={paid.cycle.id}",
        f"/payments?batch={batch.id}&status=failed",
        "/jobs",
        "/audit",
        "/audit?action=cycle.approved",
        "/exports/registrants.csv?q=B",
        f"/exports/entitlements.xlsx?cycle={paid.cycle.id}",
        f"/exports/payments.csv?cycle={paid.cycle.id}&state=issued",
        "/exports/audit.xlsx?action=cycle.approved",
        "/account/tokens",
        "/account/preferences",
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_every_page(world, as_user: Callable[[User], Browser], role: str) -> None:
    paid, users = world
    browser = as_user(users[role])
    for url in _pages(paid):
        answer = browser.get(url)
        assert answer.status_code == 200, (url, answer.text[:500])
    if role != "admin":
        refused = browser.get("/users")
        assert refused.status_code == 403
        assert "may not manage users" in refused.text
        refused = browser.get("/phee-defaults")
        assert refused.status_code == 403
        assert "may not manage settings" in refused.text
        refused = browser.get("/g2p-connect/senders")
        assert refused.status_code == 403
        assert "may not manage settings" in refused.text
    else:
        assert browser.get("/phee-defaults").status_code == 200
        assert browser.get("/g2p-connect/senders").status_code == 200


def test_viewer_sees_no_action_buttons(world, as_user: Callable[[User], Browser]) -> None:
    paid, users = world
    viewer = as_user(users["viewer"])
    cycle_page = viewer.get(f"/cycles/{paid.cycle.id}").text
    for label in ("Prepare payments", "Send…", "Sync…", "Retry failed", "New cycle"):
        assert label not in cycle_page
    program_page = viewer.get(f"/programs/{paid.program.id}").text
    assert "Create cycle" not in program_page
    assert "Enrol every" not in program_page
    form = viewer.get(f"/programs/{paid.program.id}/manager").text
    assert "Save settings" not in form
    assert "Test connection" not in form
    assert "Import registrants" not in viewer.get("/registrants").text
    assert "Create ID type" not in viewer.get("/id-types").text
    assert "Send this batch" not in viewer.get(f"/batches/{paid.batches[0].id}").text


def _actions(paid) -> list[tuple[str, dict[str, str]]]:
    cycle, program = paid.cycle.id, paid.program.id
    return [
        ("/id-types", {"name": "Viewer's ID"}),
        ("/id-types/National ID/disable", {}),
        ("/programs", {"name": "Viewer's program", "currency": "KES"}),
        (f"/programs/{program}/cycles", {"name": "X", "start": "2027-01-01", "end": "2027-01-31"}),
        (f"/programs/{program}/enrol", {}),
        (f"/programs/{program}/manager", {"tenant_id": "t", "payee_id_type": "phone"}),
        (f"/programs/{program}/manager/test", {}),
        ("/phee-defaults", {"tenant_id": "viewers-tenant"}),
        ("/g2p-connect/senders", {"sender_id": "viewers-mis", "program": str(program)}),
        ("/g2p-connect/senders/any-mis/disable", {}),
        (f"/cycles/{cycle}/submit", {}),
        (f"/cycles/{cycle}/approve", {}),
        (f"/cycles/{cycle}/prepare", {}),
        (f"/cycles/{cycle}/send", {}),
        (f"/cycles/{cycle}/sync", {}),
        (f"/cycles/{cycle}/retry", {}),
        (f"/cycles/{cycle}/distribute", {}),
        (f"/cycles/{cycle}/paid-twice/acknowledge", {"reason": "known"}),
        (f"/cycles/{cycle}/cancel", {"reason": "no"}),
        (f"/cycles/{cycle}/entitlements/E-ANY/reject", {"reason": "no"}),
        (f"/batches/{paid.batches[0].id}/send", {}),
        (f"/batches/{paid.batches[0].id}/cancel", {"reason": "no"}),
        (f"/cycles/{cycle}/batches", {}),
        (f"/cycles/{cycle}/payments/cancel", {"reason": "no"}),
        ("/users", {"username": "mallory", "role": "admin", "password": "x" * 20}),
        ("/users/admin/disable", {}),
    ]


def test_viewer_is_refused_every_action_and_nothing_changes(
    world, session: Session, as_user: Callable[[User], Browser]
) -> None:
    paid, users = world
    viewer = as_user(users["viewer"])
    events_before = session.scalar(select(func.count()).select_from(AuditEvent))
    for url, data in _actions(paid):
        answer = viewer.post(url, data)
        assert answer.status_code == 403, (url, answer.status_code, answer.text[:300])
        assert "watcher" in answer.text
        assert "may not" in answer.text
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Program)) == 1
    after = session.scalar(select(func.count()).select_from(AuditEvent))
    assert after == events_before  # (the sign-in came before the count)


@pytest.mark.parametrize(
    ("role", "url_of", "allowed"),
    [
        ("manager", lambda p: f"/programs/{p.program.id}/manager", False),
        ("approver", lambda p: f"/programs/{p.program.id}/manager", False),
        ("admin", lambda p: f"/programs/{p.program.id}/manager", True),
        ("manager", lambda p: "/phee-defaults", False),
        ("approver", lambda p: "/phee-defaults", False),
        ("admin", lambda p: "/phee-defaults", True),
        ("approver", lambda p: f"/cycles/{p.cycle.id}/prepare", False),
        ("manager", lambda p: f"/cycles/{p.cycle.id}/send", False),
        ("manager", lambda p: f"/cycles/{p.cycle.id}/sync", False),
        ("manager", lambda p: f"/batches/{p.batches[0].id}/send", False),
        ("approver", lambda p: f"/batches/{p.batches[0].id}/cancel", False),
        ("approver", lambda p: f"/cycles/{p.cycle.id}/batches", False),
        ("approver", lambda p: f"/cycles/{p.cycle.id}/payments/cancel", False),
        ("approver", lambda p: "/programs", False),
    ],
)
def test_roles_that_lack_the_permission_are_refused(
    world, as_user: Callable[[User], Browser], role: str, url_of, allowed: bool
) -> None:
    paid, users = world
    browser = as_user(users[role])
    data = {"name": "P2", "currency": "KES", "tenant_id": "gorilla", "payee_id_type": "phone"}
    answer = browser.post(url_of(paid), data)
    if allowed:
        assert answer.status_code in (303, 422), answer.text[:300]
    else:
        assert answer.status_code == 403
        assert "may not" in answer.text


def test_confirmation_pages_follow_roles(world, as_user: Callable[[User], Browser]) -> None:
    paid, users = world
    manager, approver = as_user(users["manager"]), as_user(users["approver"])
    assert manager.get(f"/cycles/{paid.cycle.id}/prepare").status_code == 200
    assert manager.get(f"/cycles/{paid.cycle.id}/send").status_code == 403
    assert approver.get(f"/cycles/{paid.cycle.id}/send").status_code == 200
    assert approver.get(f"/cycles/{paid.cycle.id}/prepare").status_code == 403


def test_unknown_ids_are_404_pages(world, as_user: Callable[[User], Browser]) -> None:
    _, users = world
    browser = as_user(users["viewer"])
    for url in (
        "/cycles/not-a-uuid",
        "/cycles/00000000-0000-0000-0000-000000000000",
        "/batches/00000000-0000-0000-0000-000000000000",
        "/programs/nope",
        "/registrants/NOBODY",
        "/jobs/00000000-0000-0000-0000-000000000000",
        "/no/such/page",
    ):
        answer = browser.get(url)
        assert answer.status_code == 404, url
        assert "text/html" in answer.headers["content-type"]
