"""``/phee-defaults`` and ``/managers``: defaults a new PHEE manager starts from (secrets only
as set / not set), bad URLs refused field by field with nothing saved, the managers' list with
the last test connection."""

from __future__ import annotations

from g2p_payment_phee.programs.models import Program
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.web.api.conftest import Api

V1 = "/api/v1"
SECRET = "umber-lynx-9043"


def test_defaults_are_applied_to_a_new_manager_and_no_secret_is_shown(
    api: Api, session, admin: User
) -> None:
    program: Program = factories.program(session, admin)
    session.commit()
    saved = api.ok(
        "PUT",
        f"{V1}/phee-defaults",
        json={
            "settings": {"tenant_id": "gorilla", "payment_mode": "gsma", "username": "mifos"},
            "secrets": {"password": SECRET},
        },
    )
    assert saved["settings"]["tenant_id"] == "gorilla"
    assert saved["secrets"] == {"password": "set", "authorization": "not set"}
    shown = api.get(f"{V1}/phee-defaults")
    assert SECRET not in shown.text

    manager = api.ok(
        "PUT",
        f"{V1}/programs/{program.id}/manager",
        json={"kind": "phee", "settings": {"payee_id_type": "phone"}},
    )
    assert manager["settings"]["tenant_id"] == "gorilla"
    assert manager["settings"]["payment_mode"] == "gsma"
    assert manager["secrets"]["password"] == "set"
    assert SECRET not in str(manager)

    listed = api.ok("GET", f"{V1}/managers", "viewer")["items"]
    assert [(m["program_name"], m["kind"], m["kind_label"]) for m in listed] == [
        (program.name, "phee", "Payment Hub EE")
    ]
    assert listed[0]["hub"] == "http://127.0.0.1:8080/batchtransactions"
    assert listed[0]["check_result"] is None


def test_bad_urls_are_each_named_and_nothing_is_saved(api: Api) -> None:
    answer = api.call(
        "PUT",
        f"{V1}/phee-defaults",
        json={
            "settings": {
                "payment_endpoint_url": "hub.test/batchtransactions",
                "details_endpoint_url": "https://hub.test/detail?page=1",
                "tenant_id": "gorilla",
            },
            "secrets": {"password": SECRET},
        },
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    fields = {item["field"] for item in error["fields"]}
    assert fields == {"payment_endpoint_url", "details_endpoint_url"}
    after = api.ok("GET", f"{V1}/phee-defaults")
    assert after["settings"]["tenant_id"] is None
    assert after["secrets"]["password"] == "not set"


def test_a_non_admin_is_refused(api: Api) -> None:
    for role in ("program_manager", "approver", "viewer"):
        answer = api.call("PUT", f"{V1}/phee-defaults", role, json={"settings": {"tenant_id": "x"}})
        assert answer.status_code == 403
        assert api.get(f"{V1}/phee-defaults", role).status_code == 403
    assert api.ok("GET", f"{V1}/phee-defaults")["settings"]["tenant_id"] is None
