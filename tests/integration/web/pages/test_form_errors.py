"""A refused form shows every problem at once and keeps what the user typed (issue 22)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.web.pages.conftest import Browser


def test_the_users_form_shows_all_its_errors_and_keeps_the_values(
    admin: User, as_user: Callable[[User], Browser]
) -> None:
    browser = as_user(admin)
    sent = {"username": "Not A Name!", "full_name": "Amina Odhiambo", "role": "", "password": "x"}
    refused = browser.post("/users", sent, page="/users")
    assert refused.status_code == 422
    page = refused.text
    assert "must be 2-150 characters" in page  # the username
    assert "password must be at least" in page
    assert "choose a role" in page
    assert page.count('class="field-error"') == 3
    assert 'value="Not A Name!"' in page
    assert 'value="Amina Odhiambo"' in page


def test_an_invalid_amount_stays_in_its_field(
    session: Session, manager: User, as_user: Callable[[User], Browser]
) -> None:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=1)
    session.commit()
    url = f"/cycles/{cycle.id}"
    refused = as_user(manager).post(
        f"{url}/entitlements", {"amount": "12,5x", "fee": "1.5"}, page=url
    )
    assert refused.status_code == 422
    assert 'name="amount" value="12,5x"' in refused.text
    assert 'name="fee" value="1.5"' in refused.text
    assert 'class="field-error"' in refused.text
