"""Amounts typed into the pages' forms: grouping understood (``1,500``, ``1 500``), problems said
in plain words on the field, by the name the form gives it.

The API, the CLI and imported files keep plain decimal text (``money.parse_amount``); only what
people type into a form goes through ``money.typed_amount`` first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NoReturn

from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _, lazy_gettext
from g2p_payment_phee.money import MAX_AMOUNT, check_precision, decimal_of, typed_amount

EXAMPLES = lazy_gettext("such as 1500, 1,500 or 12.50")


def form_amount(
    text: str, field: str, label: str, currency: str | None = None, *, allow_zero: bool = False
) -> Decimal:
    """The amount typed into ``field`` (labelled ``label`` on the form), checked against the
    currency's decimals when ``currency`` is given; ValidationFailed on the field otherwise."""

    def refuse(reason: str) -> NoReturn:
        raise ValidationFailed(f"{label}: {reason}", [FieldError(field, reason)])

    typed = text.strip()
    if not typed:
        refuse(_("required"))
    try:
        plain = typed_amount(typed)
    except ValidationFailed as error:
        refuse(error.message)
    negative = plain.startswith("-")
    try:
        value = decimal_of(plain[1:] if negative else plain)
    except ValidationFailed:
        refuse(_("must be a number, {examples}").format(examples=EXAMPLES))
    if negative or (value == 0 and not allow_zero):
        refuse(_("must be 0 or more") if allow_zero else _("must be more than 0"))
    if value >= MAX_AMOUNT:
        refuse(_("must be less than {limit}").format(limit=f"{MAX_AMOUNT:,f}"))
    if currency is not None:
        try:
            check_precision(value, currency)
        except ValidationFailed as error:
            refuse(error.message)
    return value
