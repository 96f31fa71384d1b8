"""A note template with attribute access is a 422 naming the field, never a 500 or a save."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee.users.models import User
from tests.integration.web.api.conftest import Api
from tests.integration.web.api.world import World, build_world

V1 = "/api/v1"


@pytest.fixture
def world(session: Session, admin: User, approver: User) -> World:
    return build_world(session, admin, approver)


@pytest.mark.parametrize("template", ["{program.__doc__}", "{cycle[0]}", "{program:>9999}"])
def test_a_bad_note_template_is_refused_and_not_saved(
    api: Api, world: World, template: str
) -> None:
    path = f"{V1}/programs/{world.program}/manager"
    before = api.ok("GET", path)["settings"]["note_template"]
    answer = api.call("PUT", path, "admin", json={"settings": {"note_template": template}})
    assert answer.status_code == 422, answer.text
    assert [f["field"] for f in answer.json()["error"]["fields"]] == ["note_template"]
    assert api.ok("GET", path)["settings"]["note_template"] == before


def test_a_template_with_program_and_cycle_is_saved(api: Api, world: World) -> None:
    path = f"{V1}/programs/{world.program}/manager"
    body = {"settings": {"note_template": "{cycle} of {program} {{x}}"}}
    saved = api.ok("PUT", path, json=body)
    assert saved["settings"]["note_template"] == "{cycle} of {program} {{x}}"
