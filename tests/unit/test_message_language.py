"""Domain errors and labels are made in the language in force; the CLI picks its language."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from babel.messages.pofile import read_po

from g2p_payment_phee import i18n
from g2p_payment_phee.cli.context import cli_language
from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import LOCALE_DIR
from g2p_payment_phee.money import check_precision, validate_currency
from g2p_payment_phee.payments.outcomes import Outcome


def test_a_domain_error_raised_in_french_carries_the_french_message() -> None:
    with i18n.use(language="fr"), pytest.raises(ValidationFailed) as raised:
        check_precision(Decimal("12.345"), "USD")
    assert raised.value.message == "12.345 a plus de 2 décimales pour USD"


def test_a_domain_error_raised_in_spanish_carries_the_spanish_message() -> None:
    with i18n.use(language="es"), pytest.raises(ValidationFailed) as raised:
        validate_currency("XYZ")
    assert raised.value.message == "'XYZ' no es un código de moneda ISO 4217"


def test_english_messages_are_the_source_texts() -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_precision(Decimal("12.345"), "USD")
    assert raised.value.message == "12.345 has more than 2 decimals for USD"


def test_labels_and_row_prefixes_follow_the_language_where_they_are_read() -> None:
    # a module-level label is lazy: read in French, it is French
    assert Outcome.PENDING.label == "pending at the hub"
    with i18n.use(language="fr"):
        assert Outcome.PENDING.label == "en attente au hub"
        assert str(FieldError("phone", "est vide", row=3)) == "ligne 3 : phone : est vide"
    with i18n.use(language="es"):
        assert Outcome.NOT_SENT.label == "aún no enviado"


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({}, "en"),
        ({"G2P_LANGUAGE": "fr"}, "fr"),
        ({"G2P_LANGUAGE": "es", "LANG": "fr_FR.UTF-8"}, "es"),
        ({"LANG": "fr_FR.UTF-8"}, "fr"),
        ({"LC_MESSAGES": "es_ES.UTF-8", "LANG": "fr_FR.UTF-8"}, "es"),
        ({"LC_ALL": "fr_CA.UTF-8@euro", "LC_MESSAGES": "es_ES.UTF-8"}, "fr"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "POSIX"}, "en"),
        ({"G2P_LANGUAGE": "de"}, "en"),
        ({"G2P_LANGUAGE": "  ", "LANG": "es_MX"}, "es"),
    ],
)
def test_the_cli_language_comes_from_g2p_language_then_the_posix_locale(
    environ: dict[str, str], language: str
) -> None:
    assert cli_language(environ) == language


PLACEHOLDER = re.compile(r"\{[^{}]*\}")


@pytest.mark.parametrize("language", ["fr", "es"])
@pytest.mark.parametrize("area", ["cli", "core"])
def test_every_translation_keeps_the_placeholders_of_its_english_text(
    area: str, language: str
) -> None:
    # a lost or renamed {placeholder} would raise KeyError (or drop a value) when formatted
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{area}.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    wrong: list[tuple[str, str]] = []
    for message in catalog:
        if not message.id:
            continue
        ids = [str(text) for text in _texts(message.id)]
        expected = {tuple(sorted(PLACEHOLDER.findall(text))) for text in ids}
        for text in (str(text or "") for text in _texts(message.string)):
            if not text or message.fuzzy:
                wrong.append((ids[0], "untranslated"))
            elif tuple(sorted(PLACEHOLDER.findall(text))) not in expected:
                wrong.append((ids[0], text))
    assert wrong == []


def _texts(value: object) -> list[object]:
    """The texts of a catalog entry's id or string: one, or one per plural form."""
    return list(value) if isinstance(value, tuple | list) else [value]
