"""The ID types page (list, create, disable) and the PHEE manager form's choice of them."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments.config_service import configure_manager, describe_manager
from g2p_payment_phee.programs.models import ManagerKind
from g2p_payment_phee.registry import service
from g2p_payment_phee.registry.models import IdType
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.web.pages.builders import phee_settings
from tests.integration.web.pages.conftest import Browser
from tests.integration.web.pages.test_bidi_names import RLO, _isolated


def test_a_manager_creates_and_disables_id_types(
    as_user: Callable[[User], Browser], manager: User
) -> None:
    maker = as_user(manager)
    assert 'href="/id-types"' in maker.get("/registrants").text
    assert "No ID type yet" in maker.get("/id-types").text
    form = {"name": "National ID", "validation_regex": "[0-9]{8}", "description": "Kenya"}
    created = maker.post("/id-types", form, page="/id-types")
    assert created.status_code == 303
    assert created.headers["location"] == "/id-types"
    page = maker.get("/id-types").text
    assert "ID type National ID created." in page
    assert "<td><bdi>National ID</bdi></td>" in page
    assert "<bdi>[0-9]{8}</bdi>" in page
    disabled = maker.post("/id-types/National%20ID/disable", page="/id-types")
    assert disabled.status_code == 303
    page = maker.get("/id-types").text
    assert "ID type National ID disabled: it takes no new IDs." in page
    assert re.search(r"<td>disabled [A-Z][a-z]{2} \d{1,2}, 20\d\d,", page)
    assert "/id-types/National%20ID/disable" not in page  # no button for a disabled type


def test_bad_input_comes_back_next_to_its_field(
    as_user: Callable[[User], Browser], manager: User, session: Session
) -> None:
    maker = as_user(manager)
    maker.post("/id-types", {"name": "National ID"}, page="/id-types")
    bad = maker.post(
        "/id-types", {"name": "Passport", "validation_regex": "[A-Z"}, page="/id-types"
    )
    assert bad.status_code == 422
    assert re.search(r"Pattern <input[^>]*value=\"\[A-Z\"", bad.text)  # kept for fixing
    assert "is not a valid regular expression" in bad.text
    taken = maker.post("/id-types", {"name": "national ID"}, page="/id-types")
    assert taken.status_code == 422
    assert "an ID type named &#39;National ID&#39; already exists" in taken.text
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(IdType)) == 1


def test_viewers_read_the_list_but_get_no_form(
    as_user: Callable[[User], Browser], manager: User, viewer: User, session: Session
) -> None:
    service.create_id_type(session, manager, name="Passport")
    watcher = as_user(viewer)
    page = watcher.get("/id-types").text
    assert "<bdi>Passport</bdi>" in page
    assert "Create ID type" not in page
    assert "/disable" not in page
    refused = watcher.post("/id-types/Passport/disable")
    assert refused.status_code == 403
    assert "may not manage registry" in refused.text
    session.expire_all()
    assert service.get_id_type(session, "Passport").enabled


def test_the_manager_form_offers_the_enabled_id_types(
    as_user: Callable[[User], Browser], admin: User, session: Session
) -> None:
    for name in ("National ID", "Passport", "Voter card"):
        service.create_id_type(session, admin, name=name)
    service.disable_id_type(session, admin, "Voter card")
    program = factories.program(session, admin)
    configure_manager(session, admin, program, ManagerKind.PHEE, phee_settings(), {})
    browser = as_user(admin)
    url = f"/programs/{program.id}/manager"
    select_ = re.search(
        r'<select name="reg_id_type_for_payee_id"[^>]*>(.*?)</select>', browser.get(url).text, re.S
    )
    assert select_ is not None
    options = re.findall(r'<option value="([^"]*)"', select_.group(1))
    assert options == ["", "National ID", "Passport"]

    form = {k: str(v) for k, v in phee_settings().items()}
    form |= {"payee_id_type": "reg_id", "reg_id_type_for_payee_id": "Passport"}
    assert browser.post(url, form, page=url).status_code == 303
    session.expire_all()
    stored = describe_manager(session, admin, program)["settings"]
    assert stored["reg_id_type_for_payee_id"] == "Passport"

    service.disable_id_type(session, admin, "Passport")
    session.commit()
    select_ = re.search(
        r'<select name="reg_id_type_for_payee_id"[^>]*>(.*?)</select>', browser.get(url).text, re.S
    )
    assert select_ is not None
    # the stored type stays offered (and chosen) after it was disabled
    assert re.findall(r'<option value="([^"]*)"', select_.group(1)) == [
        "",
        "National ID",
        "Passport",
    ]
    assert '<option value="Passport" selected>' in select_.group(1)


def test_names_and_patterns_are_isolated_in_bdi(
    as_user: Callable[[User], Browser], manager: User, session: Session
) -> None:
    name, pattern = f"ID{RLO}DI", f"[0-9]{RLO}+"
    service.create_id_type(session, manager, name=name, validation_regex=pattern)
    page = as_user(manager).get("/id-types").text
    assert _isolated(page, name) == 1
    assert _isolated(page, pattern) == 1
