"""API answers keep their codes and field names; their messages are in the caller's language."""

from __future__ import annotations

from sqlalchemy.orm import Session

from g2p_payment_phee import i18n
from g2p_payment_phee.users.models import User
from tests.integration.web.api.conftest import Api

NOBODY = "00000000-0000-0000-0000-000000000000"


def _no_cycle(language: str) -> str:
    with i18n.use(language):
        said = i18n.gettext("no cycle {cycle_id}").format(cycle_id=NOBODY)
    assert language == "en" or not said.startswith("no cycle"), "the catalog translates it"
    return said


def test_messages_follow_accept_language_then_the_token_owners_choice(
    api: Api, session: Session, viewer: User
) -> None:
    english = api.get(f"/api/v1/cycles/{NOBODY}", who="viewer").json()
    assert english["error"]["message"] == f"no cycle {NOBODY}" == _no_cycle("en")

    french = api.get(f"/api/v1/cycles/{NOBODY}", who="viewer", headers={"Accept-Language": "fr"})
    assert french.status_code == 404
    assert french.json()["error"]["code"] == "not_found"  # machine words stay as they are
    assert french.json()["error"]["message"] == _no_cycle("fr")

    viewer.language = "es"
    session.commit()
    spanish = api.get(f"/api/v1/cycles/{NOBODY}", who="viewer").json()
    assert spanish["error"]["message"] == _no_cycle("es")
    asked = api.get(f"/api/v1/cycles/{NOBODY}", who="viewer", headers={"Accept-Language": "fr"})
    assert asked.json()["error"]["message"] == _no_cycle("fr")  # the header wins


def test_a_refused_call_without_a_token_speaks_the_callers_language(api: Api) -> None:
    answer = api.get("/api/v1/programs", who=None, headers={"Accept-Language": "es-MX,es;q=0.9"})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "not_authenticated"
    assert answer.json()["error"]["message"].startswith("envíe un token de API personal")
