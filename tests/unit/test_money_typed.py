"""Amounts typed into forms: thousands grouping is understood when it can mean only one thing."""

from __future__ import annotations

import pytest

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.money import parse_amount, typed_amount


@pytest.mark.parametrize(
    ("typed", "plain"),
    [
        ("1500", "1500"),
        ("12.50", "12.50"),
        ("1,500", "1500"),
        ("1,500.50", "1500.50"),
        ("5,000,000", "5000000"),
        ("1 500", "1500"),
        ("1\u00a0500", "1500"),  # a no-break space, as many locales write
        ("1\u202f500,25", "1500.25"),  # a narrow one, with the decimal comma
        ("1 500 000.75", "1500000.75"),
        ("  1,500  ", "1500"),
    ],
)
def test_grouped_amounts_become_plain_text(typed: str, plain: str) -> None:
    assert typed_amount(typed) == plain
    assert parse_amount(typed_amount(typed)) == parse_amount(plain)


@pytest.mark.parametrize("typed", ["1,5", "12,50", "1,5000"])
def test_a_comma_that_could_be_either_is_refused_saying_how_to_write_it(typed: str) -> None:
    with pytest.raises(ValidationFailed, match="is unclear: write") as refused:
        typed_amount(typed)
    assert typed.replace(",", ".") in refused.value.message


@pytest.mark.parametrize("typed", ["1,50,000", "15,00.5", "1 50", "1,500,5", "abc", "-1,500"])
def test_broken_grouping_is_left_for_parse_amount_to_refuse(typed: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_amount(typed_amount(typed))
