"""Pages in the reader's language and time zone: Accept-Language, the switcher, the account."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy.orm import Session

from g2p_payment_phee.users.models import User
from tests.integration.dashboard_world import cycle_being_paid
from tests.integration.web.pages.conftest import Browser

FRENCH_DATE = re.compile(
    r"\d{1,2} (janv|févr|mars|avr|mai|juin|juil|août|sept|oct|nov|déc)\.? 20\d\d"
)


def test_the_dashboard_in_french_for_a_browser_that_asks_for_it(
    as_user: Callable[[User], Browser],
    session: Session,
    admin: User,
    approver: User,
    viewer: User,
) -> None:
    cycle_being_paid(session, admin, approver)
    page = as_user(viewer).get("/", headers={"Accept-Language": "de;q=0.9, fr;q=0.8, en;q=0.1"})
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text
    assert "<h1>Tableau de bord</h1>" in page.text
    assert "Cycles en cours de paiement" in page.text
    assert "Lot 1 de" in page.text  # a batch by its French name
    assert "300,00 KES" in page.text  # French decimal comma (the day's total)
    assert FRENCH_DATE.search(page.text), "a date written the French way"
    assert "Dashboard" not in page.text


def test_the_switcher_keeps_the_choice_of_a_signed_in_user(
    as_user: Callable[[User], Browser], session: Session, viewer: User
) -> None:
    browser = as_user(viewer)
    answer = browser.post("/account/language", {"language": "es", "next": "/programs?x=1"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/programs?x=1"
    assert answer.cookies.get("g2p_lang") == "es"
    session.refresh(viewer)
    assert viewer.language == "es"
    # the preference wins over the browser's header, on every page
    page = browser.get("/", headers={"Accept-Language": "fr"}).text
    assert '<html lang="es">' in page
    assert "<h1>Panel</h1>" in page


def test_the_switcher_works_signed_out_and_never_leaves_the_site(browser: Browser) -> None:
    answer = browser.client.post(
        "/account/language",
        data={"language": "fr", "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    page = browser.get("/login").text
    assert '<html lang="fr">' in page
    assert "Se connecter" in page


def test_a_signed_in_switch_without_its_csrf_token_changes_nothing(
    as_user: Callable[[User], Browser], session: Session, viewer: User
) -> None:
    browser = as_user(viewer)
    answer = browser.client.post("/account/language", data={"language": "fr"})
    assert answer.status_code == 403
    session.refresh(viewer)
    assert viewer.language is None


def test_the_account_page_saves_language_and_zone_and_explains_bad_ones(
    as_user: Callable[[User], Browser], session: Session, viewer: User
) -> None:
    browser = as_user(viewer)
    refused = browser.post(
        "/account/preferences",
        {"language": "de", "time_zone": "Mars/Olympus"},
        page="/account/preferences",
    )
    assert refused.status_code == 422
    assert "choose one of: English, Français, Español" in refused.text
    assert "Mars/Olympus is not a time zone" in refused.text
    assert 'value="Mars/Olympus"' in refused.text  # what was typed stays
    session.refresh(viewer)
    assert (viewer.language, viewer.time_zone) == (None, None)

    saved = browser.post(
        "/account/preferences",
        {"language": "fr", "time_zone": "Africa/Nairobi"},
        page="/account/preferences",
    )
    assert saved.status_code == 303
    session.refresh(viewer)
    assert (viewer.language, viewer.time_zone) == ("fr", "Africa/Nairobi")
    page = browser.get("/account/tokens").text
    assert "Vos jetons d'API" in page
    assert (
        "Votre langue et votre fuseau horaire sont enregistrés."
        in browser.get(saved.headers["location"]).text
        or "Langue et fuseau horaire" in page
    )
