"""Money parsing and formatting: Decimal only, currency digits, PHEE's integer amounts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.money import (
    AmountFormat,
    check_precision,
    format_amount,
    parse_amount,
    validate_currency,
)


def test_currency_codes_are_checked_and_normalised() -> None:
    assert validate_currency(" kes ") == "KES"
    with pytest.raises(ValidationFailed, match="not an ISO 4217"):
        validate_currency("KESH")


@pytest.mark.parametrize("text", ["nan", "inf", "-1", "0", "1e20", "12,5", ""])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_amount(text)


def test_float_is_never_accepted() -> None:
    with pytest.raises(ValidationFailed, match="never float"):
        parse_amount(0.1)  # type: ignore[arg-type]


def test_precision_follows_the_currency() -> None:
    check_precision(Decimal("12.34"), "USD")
    check_precision(Decimal("12.345"), "KWD")
    with pytest.raises(ValidationFailed, match="more than 0 decimals for JPY"):
        check_precision(Decimal("1.5"), "JPY")


def test_integer_format_writes_no_decimal_point_and_refuses_fractions() -> None:
    assert format_amount(Decimal("100.0000"), "USD", AmountFormat.INTEGER) == "100"
    with pytest.raises(ValidationFailed, match="fractional"):
        format_amount(Decimal("100.5"), "USD", AmountFormat.INTEGER)


def test_decimal_format_uses_the_currency_minor_digits() -> None:
    assert format_amount(Decimal("12.5"), "USD", AmountFormat.DECIMAL) == "12.50"
    assert format_amount(Decimal("7"), "KWD", AmountFormat.DECIMAL) == "7.000"


@given(st.integers(min_value=1, max_value=10**14))
def test_integer_amounts_round_trip(value: int) -> None:
    amount = parse_amount(str(value))
    assert format_amount(amount, "KES", AmountFormat.INTEGER) == str(value)
