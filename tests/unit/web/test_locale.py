"""The language and zone of a request, and numbers, amounts and times in them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from g2p_payment_phee import i18n
from g2p_payment_phee.money import display
from g2p_payment_phee.web.locale import chosen_language, chosen_zone
from g2p_payment_phee.web.pages.rendering import number, when
from g2p_payment_phee.web.words import word

NNBSP = "\u202f"  # CLDR's narrow no-break space: French thousands, English before PM


@pytest.mark.parametrize(
    ("preference", "cookie", "header", "expected"),
    [
        ("es", "fr", "fr", "es"),  # the user's preference wins
        (None, "fr", "es", "fr"),  # then the switcher's cookie (signed-out pages)
        (None, None, "en;q=0.5, fr;q=0.9, de", "fr"),  # then the best supported q-value
        (None, None, "de, es;q=0.1", "es"),
        (None, None, "fr-CA,fr;q=0.8", "fr"),
        (None, "xx", "de, it", "en"),  # nothing supported: English
        ("klingon", None, "es;q=0", "en"),  # q=0 means "not this one"
    ],
)
def test_the_language_of_a_page(
    preference: str | None, cookie: str | None, header: str | None, expected: str
) -> None:
    assert chosen_language(preference, cookie, header) == expected


def test_an_unknown_zone_preference_falls_back_to_the_deployment_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("G2P_TIME_ZONE", "Africa/Nairobi")
    from g2p_payment_phee.config import get_settings

    get_settings.cache_clear()
    try:
        assert chosen_zone("America/Bogota") == "America/Bogota"
        assert chosen_zone("Mars/Olympus") == "Africa/Nairobi"
        assert chosen_zone(None) == "Africa/Nairobi"
    finally:
        get_settings.cache_clear()


MOMENT = datetime(2026, 12, 8, 11, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "shown"),
    [
        ("en", f"Dec 8, 2026, 2:05{NNBSP}PM EAT"),
        ("fr", "8 déc. 2026, 14:05 EAT"),
        ("es", "8 dic 2026, 14:05 EAT"),
    ],
)
def test_times_are_shown_in_the_zone_in_force_with_its_name(language: str, shown: str) -> None:
    with i18n.use(language, "Africa/Nairobi"):
        assert when(MOMENT) == shown
        assert when(MOMENT.replace(tzinfo=None)) == shown  # naive times are UTC
    with i18n.use("fr", "America/Bogota"):
        assert when(MOMENT) == "8 déc. 2026, 06:05 -05"
    with i18n.use("en", "UTC"):
        assert when(MOMENT) == f"Dec 8, 2026, 11:05{NNBSP}AM UTC"
        assert when(date(2027, 1, 31)) == "Jan 31, 2027"
        assert when(None) == ""


def test_numbers_and_amounts_follow_the_language() -> None:
    amount = Decimal("1234567.5")
    with i18n.use("en"):
        assert number(1234567) == "1,234,567"
        assert display(amount, "KES") == "1,234,567.50 KES"
    with i18n.use("fr"):
        assert number(1234567) == f"1{NNBSP}234{NNBSP}567"
        assert display(amount, "KES") == f"1{NNBSP}234{NNBSP}567,50 KES"
        assert display(Decimal(1500), "JPY") == f"1{NNBSP}500 JPY"  # no minor digits
        assert display(Decimal("2.5"), "KWD") == "2,500 KWD"  # three
    with i18n.use("es"):
        assert display(amount, "KES") == "1.234.567,50 KES"


def test_messages_and_state_words_are_translated() -> None:
    with i18n.use("fr"):
        assert i18n.gettext("Dashboard") == "Tableau de bord"
        assert word("to_approve") == "à approuver"
        assert i18n.gettext("Batch {number} of {cycle}").format(number=3, cycle="2027-01") == (
            "Lot 3 de 2027-01"
        )
    with i18n.use("es"):
        assert word("pending_validation") == "pendiente de validación"
    with i18n.use("en"):
        assert word("to_approve") == "to approve"
        assert word("something_new") == "something new"  # unknown words keep their text
