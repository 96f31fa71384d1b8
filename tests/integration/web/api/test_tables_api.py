"""API lists as tables: sort, count, cursors both ways, first/last, search, cycle by name."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee import tables
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.programs.models import Entitlement
from g2p_payment_phee.users.models import User
from tests.integration.web.api.conftest import Api
from tests.integration.web.api.world import World, build_world


@pytest.fixture
def world(session: Session, admin: User, approver: User) -> World:
    return build_world(session, admin, approver)


def _ids(answer: dict[str, Any]) -> list[str]:
    return [item["id"] for item in answer["items"]]


def test_payments_page_both_ways_with_first_and_last(
    api: Api, world: World, session: Session
) -> None:
    everything = [str(i) for i in session.scalars(select(Payment.id).order_by(Payment.id))]
    assert len(everything) == 3
    first = api.ok("GET", "/api/v1/payments?cycle=C1&limit=2")
    assert _ids(first) == everything[:2]
    assert first["previous_cursor"] is None
    assert first["count"] == {"value": 3, "exact": True}
    assert first["sort"] == "created"

    second = api.ok("GET", f"/api/v1/payments?cycle=C1&limit=2&cursor={first['next_cursor']}")
    assert _ids(second) == everything[2:]
    assert second["next_cursor"] is None
    back = api.ok(
        "GET",
        f"/api/v1/payments?cycle=C1&limit=2&dir=prev&cursor={second['previous_cursor']}",
    )
    assert _ids(back) == everything[:2]  # a full first page again
    assert back["previous_cursor"] is None

    last = api.ok("GET", "/api/v1/payments?cycle=C1&limit=2&page=last")
    assert _ids(last) == everything[1:]
    assert last["next_cursor"] is None
    assert last["previous_cursor"] is not None

    newest = api.ok("GET", "/api/v1/payments?limit=2&sort=-created")
    assert _ids(newest) == everything[::-1][:2]
    older = api.ok("GET", f"/api/v1/payments?limit=2&sort=-created&cursor={newest['next_cursor']}")
    assert _ids(older) == everything[::-1][2:]


def test_a_cursor_from_another_order_or_a_bad_sort_is_refused(api: Api, world: World) -> None:
    first = api.ok("GET", "/api/v1/payments?limit=1")
    answer = api.get(f"/api/v1/payments?limit=1&sort=-created&cursor={first['next_cursor']}")
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"][0]["field"] == "cursor"
    for query, field in (("sort=amount", "sort"), ("dir=up", "dir"), ("page=9", "page")):
        answer = api.get(f"/api/v1/payments?{query}")
        assert answer.status_code == 422, query
        assert answer.json()["error"]["fields"][0]["field"] == field


def test_counts_stop_at_the_cap(api: Api, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "COUNT_CAP", 2)
    answer = api.ok("GET", "/api/v1/payments")
    assert answer["count"] == {"value": 2, "exact": False}
    assert len(answer["items"]) == 3  # the page itself is not capped
    answer = api.ok("GET", f"/api/v1/payments?batch_id={world.batch}&status=paid")
    assert answer["count"] == {"value": 0, "exact": True}


def test_payments_searched_by_each_kind(
    api: Api, world: World, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("G2P_DEFAULT_PHONE_REGION", "KE")
    get_settings.cache_clear()
    payment = session.scalars(select(Payment).order_by(Payment.id)).first()
    assert payment is not None
    code = session.scalars(
        select(Entitlement.code).where(Entitlement.id == payment.entitlement_id)
    ).one()
    reference = api.ok("GET", "/api/v1/registrants?limit=500")["items"]
    by_id = {r["id"]: r for r in reference}
    person = by_id[str(payment.registrant_id)]
    number = int(person["reference"][1:])
    for text in (
        person["name"].lower(),
        person["reference"],
        f"0{700000000 + number}",  # 07… read as a Kenyan number
        f"{number:08d}",  # the ID number
        code,
        str(payment.id),
        str(payment.registrant_id),
    ):
        found = api.ok("GET", "/api/v1/payments", params={"q": text})
        assert _ids(found) == [str(payment.id)], text
        assert found["count"] == {"value": 1, "exact": True}
    assert api.ok("GET", "/api/v1/payments", params={"q": "nobody"})["items"] == []


def test_the_cycle_is_named_and_an_unknown_name_is_a_clear_error(api: Api, world: World) -> None:
    assert len(api.ok("GET", "/api/v1/payments?cycle=C1")["items"]) == 3
    assert len(api.ok("GET", f"/api/v1/payments?cycle={world.cycle}")["items"]) == 3
    assert api.ok("GET", "/api/v1/payments?cycle=Draft")["items"] == []
    answer = api.get("/api/v1/payments?cycle=Nope")
    assert answer.status_code == 422
    [problem] = answer.json()["error"]["fields"]
    assert problem == {
        "field": "cycle",
        "reason": "no cycle is named 'Nope'; pick one from the list",
        "row": None,
    }


def test_entitlements_sort_by_code_and_are_searched(
    api: Api, world: World, session: Session
) -> None:
    url = f"/api/v1/cycles/{world.draft_cycle}/entitlements"
    codes = sorted(
        session.scalars(
            select(Entitlement.code).where(Entitlement.cycle_id == uuid.UUID(world.draft_cycle))
        )
    )
    up = api.ok("GET", f"{url}?sort=code&limit=2")
    assert [e["code"] for e in up["items"]] == codes[:2]
    down = api.ok("GET", f"{url}?sort=-code&limit=2")
    assert [e["code"] for e in down["items"]] == codes[::-1][:2]
    rest = api.ok("GET", f"{url}?sort=-code&limit=2&cursor={down['next_cursor']}")
    assert [e["code"] for e in rest["items"]] == codes[::-1][2:]
    assert down["count"] == {"value": 3, "exact": True}
    found = api.ok("GET", url, params={"q": world.entitlement})
    assert [e["code"] for e in found["items"]] == [world.entitlement]
    found = api.ok("GET", url, params={"q": world.registrant})
    assert len(found["items"]) == 1


def test_registrants_audit_and_jobs_sort_both_ways(api: Api, world: World) -> None:
    names = [r["name"] for r in api.ok("GET", "/api/v1/registrants?sort=name")["items"]]
    assert names == sorted(names)
    assert len(names) == 3
    backwards = api.ok("GET", "/api/v1/registrants?sort=-name")
    assert [r["name"] for r in backwards["items"]] == names[::-1]
    assert backwards["count"] == {"value": 3, "exact": True}

    newest = _ids(api.ok("GET", "/api/v1/audit-events?limit=500"))
    oldest = _ids(api.ok("GET", "/api/v1/audit-events?limit=500&sort=created"))
    assert oldest == newest[::-1]
    assert len(oldest) > 3
    last = api.ok("GET", "/api/v1/audit-events?limit=2&page=last")
    assert _ids(last) == newest[-2:]

    jobs = api.ok("GET", "/api/v1/jobs?sort=created")
    assert jobs["count"]["exact"] is True
    assert api.get("/api/v1/jobs?sort=state").status_code == 422
