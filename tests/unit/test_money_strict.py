"""Amounts come in as plain ASCII decimal text (or an exact integer) and nothing else."""

from __future__ import annotations

from decimal import Decimal

import pytest

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.money import parse_amount


@pytest.mark.parametrize(
    "text",
    [
        "5e2",
        "1E+3",
        "1_000",
        "1,000",
        "١٢٣",  # Arabic-Indic digits
        "۱۲",  # Extended Arabic-Indic digits
        "１２",  # fullwidth digits
        "+5",
        "--5",
        "-5e2",
        ".5",
        "5.",
        "NaN",
        "Infinity",
        "0x10",
        "1 000",
        "",
        "9" * 41,
    ],
)
def test_anything_but_plain_ascii_decimal_text_is_refused(text: str) -> None:
    with pytest.raises(ValidationFailed, match="not a number in plain form"):
        parse_amount(text)


@pytest.mark.parametrize("value", [1.5, 500.0, True, None, [1]])
def test_floats_booleans_and_other_types_are_refused(value: object) -> None:
    with pytest.raises(ValidationFailed, match="amount must be"):
        parse_amount(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("100", "100"), ("12.50", "12.50"), (" 7 ", "7"), (250, "250"), ("0.001", "0.001")],
)
def test_plain_text_and_exact_integers_are_accepted(value: str | int, expected: str) -> None:
    assert parse_amount(value) == Decimal(expected)
    assert str(parse_amount(value)) == expected


def test_decimals_from_our_own_code_still_pass_but_not_nan() -> None:
    assert parse_amount(Decimal("12.5")) == Decimal("12.5")
    with pytest.raises(ValidationFailed, match="finite"):
        parse_amount(Decimal("NaN"))


@pytest.mark.parametrize(
    ("text", "allow_zero", "message"), [("-5", True, "≥ 0"), (-3, False, "> 0")]
)
def test_a_negative_amount_is_named_as_such(
    text: str | int, allow_zero: bool, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=f"amount must be {message}, got -"):
        parse_amount(text, allow_zero=allow_zero)
