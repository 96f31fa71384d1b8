"""Financial addresses (``type:id@provider``) and the registrant identifiers they name.

- ``mobile:``, ``phone:`` (``msisdn:``): a phone number (E.164), paid under "Phone";
- ``account:``, ``account_no:``: a bank account number, under "Bank Account Number";
- ``iban:``: a bank account with its IBAN, under "IBAN" or "Bank Account Number";
- ``email:``: the registrant's email, under "Email";
- ``token:``: an ID of the manager's ID type, under "Registrant ID".

The provider (after the last ``@``) of an ``account``/``iban`` FA is kept as the account's bank
code when a bank with that code is known; otherwise it is only informative. Types are read
case-insensitively; an FA without a type, or of another type, is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.payments.payees import PayeeOption, iban_is_valid
from g2p_payment_phee.registry.validation import (
    normalize_account_number,
    normalize_email,
    normalize_iban,
    normalize_phone,
)

MAX_FA_LENGTH = 400
_PHONE_FORMATTING = str.maketrans("", "", " ().-/")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class FaKind(StrEnum):
    """Which registrant identifier an FA names."""

    PHONE = "phone"
    ACCOUNT = "account"
    IBAN = "iban"
    EMAIL = "email"
    TOKEN = "token"  # noqa: S105 (an FA type, not a secret)


FA_TYPES = {
    "mobile": FaKind.PHONE,
    "phone": FaKind.PHONE,
    "msisdn": FaKind.PHONE,
    "account": FaKind.ACCOUNT,
    "account_no": FaKind.ACCOUNT,
    "iban": FaKind.IBAN,
    "email": FaKind.EMAIL,
    "token": FaKind.TOKEN,
}
PAYS_UNDER: dict[PayeeOption, frozenset[FaKind]] = {
    PayeeOption.PHONE: frozenset({FaKind.PHONE}),
    PayeeOption.BANK_ACCOUNT: frozenset({FaKind.ACCOUNT, FaKind.IBAN}),
    PayeeOption.IBAN: frozenset({FaKind.IBAN}),
    PayeeOption.EMAIL: frozenset({FaKind.EMAIL}),
    PayeeOption.REGISTRANT_ID: frozenset({FaKind.TOKEN}),
}


@dataclass(frozen=True)
class PayeeAddress:
    """A payee FA, read: its kind, the normalised identifier and the provider (may be "")."""

    kind: FaKind
    value: str
    provider: str

    @property
    def key(self) -> str:
        """The same payee, however the FA was written (to find it twice in one transaction)."""
        return f"{self.kind}:{self.value}"


class BadAddress(Exception):
    """The FA cannot be read; ``reason`` says why (for ``status_reason_message``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_payee_fa(text: object, option: PayeeOption, *, quick: bool = False) -> PayeeAddress:
    """The payee FA read and checked against the manager's payee option, or BadAddress.

    ``quick`` (at receipt, where 10,000 records must be acked within a second): an
    international phone number and an IBAN are checked for their form and checksum only; the
    intake job reads every FA again in full (phone validity per country, IBAN structure) and
    rejects then what fails."""
    if not isinstance(text, str) or not text.strip():
        raise BadAddress("payee_fa is missing")
    if len(text) > MAX_FA_LENGTH:
        raise BadAddress(f"payee_fa is longer than {MAX_FA_LENGTH} characters")
    fa_type, colon, rest = text.strip().partition(":")
    kind = FA_TYPES.get(fa_type.strip().lower()) if colon else None
    if kind is None:
        known = ", ".join(sorted(FA_TYPES))
        raise BadAddress(f"payee_fa {text[:60]!r} has no known type ({known})")
    if kind not in PAYS_UNDER[option]:
        raise BadAddress(
            f"the program pays by {option.label}; a {fa_type.lower()} address cannot be paid"
        )
    identifier, provider = _split_provider(kind, rest.strip())
    try:
        value = (quick and _quick(kind, identifier)) or _normalised(kind, identifier)
    except ValidationFailed as error:
        raise BadAddress(f"payee_fa: {error.message}") from None
    return PayeeAddress(kind, value, provider)


def _split_provider(kind: FaKind, rest: str) -> tuple[str, str]:
    """``id@provider``: an email keeps its own ``@`` (its provider, if any, is a second one)."""
    if kind is FaKind.EMAIL:
        if rest.count("@") >= 2:
            address, _, provider = rest.rpartition("@")
            return address, provider
        return rest, ""
    identifier, _, provider = rest.partition("@")
    return identifier, provider


def _quick(kind: FaKind, identifier: str) -> str | None:
    """The identifier's normal form when a cheap check suffices for now, else None."""
    if kind is FaKind.PHONE:
        plain = identifier.translate(_PHONE_FORMATTING)
        return plain if _E164.fullmatch(plain) else None
    if kind is FaKind.IBAN:
        compact = identifier.replace(" ", "").upper()
        return compact if iban_is_valid(compact) else None
    return None


def _normalised(kind: FaKind, identifier: str) -> str:
    if kind is FaKind.PHONE:
        return normalize_phone(identifier, field="payee_fa")
    if kind is FaKind.ACCOUNT:
        return normalize_account_number(identifier, field="payee_fa")
    if kind is FaKind.IBAN:
        return normalize_iban(identifier, field="payee_fa")
    if kind is FaKind.EMAIL:
        return normalize_email(identifier, field="payee_fa").lower()
    if not identifier or len(identifier) > 100 or any(c in identifier for c in ',"\r\n'):
        raise ValidationFailed("payee_fa: the token must be 1-100 characters, no commas")
    return identifier
