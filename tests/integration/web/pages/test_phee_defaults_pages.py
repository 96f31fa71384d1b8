"""The Payment Hub EE settings page (admins) and the payment managers' list: defaults shown
and saved with secrets never written into a page, a bad URL next to its field with nothing
saved, a new manager's form filled from the defaults, the list with the last test."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments.config_service import check_connection, configure_manager
from g2p_payment_phee.phee.models import PheeDefaults
from g2p_payment_phee.programs.models import ManagerKind
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.web.pages.builders import phee_settings
from tests.integration.web.pages.conftest import Browser

SECRET = "sienna-otter-2208"
URL = "/phee-defaults"


def test_an_admin_saves_the_defaults_and_sees_no_secret(
    as_user: Callable[[User], Browser], admin: User, session: Session
) -> None:
    program = factories.program(session, admin)
    browser = as_user(admin)
    form = {
        "payment_endpoint_url": "https://hub.test/batchtransactions",
        "tenant_id": "gorilla",
        "payment_mode": "gsma",
        "password": SECRET,
    }
    answer = browser.post(URL, form, page=URL)
    assert answer.status_code == 303, answer.text[:500]
    page = browser.get(URL).text
    assert 'value="https://hub.test/batchtransactions"' in page
    assert '<span class="badge s-valid" id="secret-password">set</span>' in page
    assert 'id="secret-authorization">not set</span>' in page
    assert SECRET not in page
    assert "Payment Hub EE settings" in browser.get("/").text  # in the navigation

    new_form = browser.get(f"/programs/{program.id}/manager").text
    assert 'value="gorilla"' in new_form
    assert 'value="https://hub.test/batchtransactions"' in new_form
    assert 'id="secret-password">set by the hub defaults</span>' in new_form
    assert SECRET not in new_form


def test_a_bad_url_is_shown_next_to_its_field_and_nothing_is_saved(
    as_user: Callable[[User], Browser], admin: User, session: Session
) -> None:
    browser = as_user(admin)
    form = {
        "status_endpoint_url": "mailto:ops@hub.test",
        "tenant_id": "gorilla",
        "password": SECRET,
    }
    answer = browser.post(URL, form, page=URL)
    assert answer.status_code == 422
    assert "is not an http(s) URL" in answer.text
    assert "The defaults were not saved" in answer.text
    assert SECRET not in answer.text
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(PheeDefaults)) == 0


def test_the_managers_list_shows_kind_hub_and_last_test(
    as_user: Callable[[User], Browser], admin: User, viewer: User, session: Session
) -> None:
    program = factories.program(session, admin)
    unreachable = {**phee_settings(), "auth_endpoint_url": "http://127.0.0.1:9/oauth/token"}
    configure_manager(session, admin, program, ManagerKind.PHEE, unreachable, {})
    session.commit()
    check_connection(session, admin, program)
    factories.program(session, admin, name="Not Yet")
    session.commit()

    page = as_user(viewer).get("/managers").text
    assert "Payment Hub EE" in page
    assert "(not configured)" in page
    assert '<span class="badge check-failed">failed</span>' in page
    assert "127.0.0.1:9" in page
    assert "never tested" in page
    assert 'href="/managers"' in page  # in the navigation
    assert 'href="/phee-defaults"' not in page  # admins only
