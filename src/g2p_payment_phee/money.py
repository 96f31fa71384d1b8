"""Money: Decimal amounts with an ISO-4217 currency; the only place that parses and formats them.

Floats never appear: amounts are parsed from text, stored as ``Numeric`` and written as text.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

from g2p_payment_phee.errors import ValidationFailed

MAX_AMOUNT = Decimal("1e15")


class AmountFormat(StrEnum):
    """How amounts are written in a PHEE bulk file (SPEC 4.2)."""

    INTEGER = "integer"
    DECIMAL = "decimal"


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    return frozenset(code for code in list_currencies() if len(code) == 3)


def validate_currency(code: str) -> str:
    """The upper-cased ISO-4217 code, or ValidationFailed naming the bad value."""
    normalised = code.strip().upper()
    if normalised not in _currencies():
        raise ValidationFailed(f"{code!r} is not an ISO 4217 currency code")
    return normalised


def minor_digits(currency: str) -> int:
    """Digits after the decimal point for the currency (2 for USD, 0 for JPY, 3 for KWD)."""
    return int(get_currency_precision(currency))


def parse_amount(text: str | int | Decimal, *, allow_zero: bool = False) -> Decimal:
    """A positive Decimal from text; refuses floats, NaN, infinities, negatives and absurd sizes."""
    if isinstance(text, float):
        raise ValidationFailed("amounts must be given as text or Decimal, never float")
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValidationFailed(f"{text!r} is not a number") from None
    if not amount.is_finite():
        raise ValidationFailed(f"{text!r} is not a finite amount")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationFailed(f"amount must be {'≥' if allow_zero else '>'} 0, got {text}")
    if amount >= MAX_AMOUNT:
        raise ValidationFailed(f"amount {text} is too large")
    return amount


def check_precision(amount: Decimal, currency: str) -> None:
    """Refuse an amount with more decimals than the currency has (12.345 USD)."""
    digits = minor_digits(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-digits)):
        raise ValidationFailed(f"{amount} has more than {digits} decimals for {currency}")


def is_whole(amount: Decimal) -> bool:
    """Whether the amount has no fractional part (PHEE's integer amounts)."""
    return amount == amount.to_integral_value()


def format_amount(amount: Decimal, currency: str, fmt: AmountFormat) -> str:
    """Text for the wire: ``100`` under integer format, ``12.50`` under decimal format.

    Under ``integer`` a fractional amount is a caller error: preparation refuses such payments
    before any file is written.
    """
    if fmt is AmountFormat.INTEGER:
        if not is_whole(amount):
            raise ValidationFailed(f"{amount} {currency} has a fractional part")
        return str(int(amount))
    digits = minor_digits(currency)
    return f"{amount.quantize(Decimal(1).scaleb(-digits)):f}"


def display(amount: Decimal, currency: str) -> str:
    """For people: ``1,234.50 USD``."""
    digits = minor_digits(currency)
    return f"{amount.quantize(Decimal(1).scaleb(-digits)):,f} {currency}"
