"""Money: Decimal amounts with an ISO-4217 currency; the only place that parses and formats them.

Floats never appear: amounts are parsed from plain ASCII decimal text (``decimal_of``), stored as
``Numeric`` and written as text.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.i18n import _

MAX_AMOUNT = Decimal("1e15")
_MAX_AMOUNT_TEXT = 40
_PLAIN_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# What people type in a form: thousands grouped by commas (1,500.50) or by spaces, no-break
# spaces included (1 500.50, or 1 500,50 where the comma can only be the decimal mark).
_SPACES = "\u00a0\u202f "
_COMMA_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_SPACE_GROUPED = re.compile(rf"[0-9]{{1,3}}(?:[{_SPACES}][0-9]{{3}})+(?:[.,][0-9]+)?")
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]+")


class AmountFormat(StrEnum):
    """How amounts are written in a PHEE bulk file (SPEC 4.2)."""

    INTEGER = "integer"
    DECIMAL = "decimal"

    @property
    def label(self) -> str:
        """This choice for people: "Integer" or "Decimal"."""
        return self.value.capitalize()


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    return frozenset(code for code in list_currencies() if len(code) == 3)


def validate_currency(code: str) -> str:
    """The upper-cased ISO-4217 code, or ValidationFailed naming the bad value."""
    normalised = code.strip().upper()
    if normalised not in _currencies():
        raise ValidationFailed(_("{code!r} is not an ISO 4217 currency code").format(code=code))
    return normalised


def minor_digits(currency: str) -> int:
    """Digits after the decimal point for the currency (2 for USD, 0 for JPY, 3 for KWD)."""
    return int(get_currency_precision(currency))


def decimal_of(value: object) -> Decimal:
    """The Decimal written as plain ASCII decimal text (``1500``, ``12.50``), or ValidationFailed.

    Text must match ``^[0-9]+(\\.[0-9]+)?$`` once surrounding blanks are removed: no sign, exponent
    (``5e2``), digit grouping (``1_000``, ``1,000``), non-ASCII digits (``١٢``), NaN or infinity.
    Integers (a JSON ``100``) are exact and accepted as their text; floats (a JSON ``1.5``) and
    booleans are refused, since a float may already have lost the amount. A Decimal comes from
    our own code and is only checked to be finite.
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationFailed(_("{value} is not a finite amount").format(value=value))
        return value
    if isinstance(value, float):
        raise ValidationFailed(
            _('an amount must be text such as "12.50", never float ({value!r})').format(value=value)
        )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationFailed(
            _("an amount must be decimal text, not {type}").format(type=type(value).__name__)
        )
    text = str(value).strip(" \t")
    if len(text) > _MAX_AMOUNT_TEXT or not _PLAIN_AMOUNT.fullmatch(text):
        raise ValidationFailed(
            _(
                "{shown} is not a number in plain form: ASCII digits with an optional "
                "decimal point (1500 or 12.50); no sign, exponent, separators or other "
                "digits"
            ).format(shown=_shown(value))
        )
    return Decimal(text)


def typed_amount(text: str) -> str:
    """A form's amount as plain decimal text, its thousands grouping removed: ``1,500`` and
    ``1 500.50`` (a space or no-break space) become ``1500`` and ``1500.50``; ``1 500,50``, where
    the comma can only be the decimal mark, becomes ``1500.50``. An amount whose comma could be
    either (``1,5``, ``12,50``) is refused with a message saying how to write it. Anything else
    comes back as it was typed, for ``parse_amount`` to judge (API bodies and imported files
    stay plain decimal text, as their docs say)."""
    typed = text.strip(_SPACES + "\t")
    if _COMMA_GROUPED.fullmatch(typed):
        return typed.replace(",", "")
    if _SPACE_GROUPED.fullmatch(typed):
        return re.sub(f"[{_SPACES}]", "", typed).replace(",", ".")
    if _DECIMAL_COMMA.fullmatch(typed):
        plain = typed.replace(",", "")
        raise ValidationFailed(
            _(
                "{typed!r} is unclear: write {decimal} for a decimal amount, or "
                "{plain} (digits only, or grouped by threes: 1,500) for a whole one"
            ).format(typed=typed, decimal=typed.replace(",", "."), plain=plain)
        )
    return typed


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def parse_amount(text: str | int | Decimal, *, allow_zero: bool = False) -> Decimal:
    """A positive Decimal from plain decimal text (see ``decimal_of``); refuses absurd sizes."""
    if isinstance(text, str | int) and not isinstance(text, bool):
        plain = str(text).strip(" \t")
        if plain.startswith("-") and _PLAIN_AMOUNT.fullmatch(plain[1:]):
            # a negative amount: say so rather than "not a number"
            raise ValidationFailed(
                _("amount must be {comparison} 0, got {plain}").format(
                    comparison="≥" if allow_zero else ">", plain=plain
                )
            )
    amount = decimal_of(text)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationFailed(
            _("amount must be {comparison} 0, got {amount}").format(
                comparison="≥" if allow_zero else ">", amount=amount
            )
        )
    if amount >= MAX_AMOUNT:
        raise ValidationFailed(_("amount {amount} is too large").format(amount=amount))
    return amount


def check_precision(amount: Decimal, currency: str) -> None:
    """Refuse an amount with more decimals than the currency has (12.345 USD)."""
    digits = minor_digits(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-digits)):
        raise ValidationFailed(
            _("{amount} has more than {digits} decimals for {currency}").format(
                amount=amount, digits=digits, currency=currency
            )
        )


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
            raise ValidationFailed(
                _("{amount} {currency} has a fractional part").format(
                    amount=amount, currency=currency
                )
            )
        return str(int(amount))
    digits = minor_digits(currency)
    return f"{amount.quantize(Decimal(1).scaleb(-digits)):f}"


def display(amount: Decimal, currency: str) -> str:
    """For people, in the language in force, with the currency's digits: ``1,234.50 USD``;
    ``1 234,50 USD`` in French (the locale's grouping and decimal sign)."""
    from babel.numbers import format_decimal

    from g2p_payment_phee.i18n import SOURCE_LANGUAGE, current_language

    digits = minor_digits(currency)
    exact = amount.quantize(Decimal(1).scaleb(-digits))
    language = current_language()
    if language == SOURCE_LANGUAGE:
        return f"{exact:,f} {currency}"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return f"{format_decimal(exact, format=pattern, locale=language)} {currency}"
