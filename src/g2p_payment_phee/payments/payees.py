"""Which registrant identifier pays an entitlement, and whether it is fit to be sent.

Values in the registry were normalised when imported; here they are checked again quickly
(they go to another system and into a comma-split CSV), so that preparation can check a
million of them in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from g2p_payment_phee.i18n import _, lazy_gettext


class PayeeOption(StrEnum):
    """The "Payee ID field" of a payment manager."""

    BANK_ACCOUNT = "bank_acc_no"
    IBAN = "bank_acc_iban"
    PHONE = "phone"
    EMAIL = "email"
    REGISTRANT_ID = "reg_id"

    @property
    def label(self) -> str:
        """The upstream module's label of this choice ("Bank Account Number" …)."""
        return str(PAYEE_OPTION_LABELS[self])


PAYEE_OPTION_LABELS = {
    PayeeOption.BANK_ACCOUNT: lazy_gettext("Bank Account Number"),
    PayeeOption.IBAN: "IBAN",
    PayeeOption.PHONE: lazy_gettext("Phone"),
    PayeeOption.EMAIL: lazy_gettext("Email"),
    PayeeOption.REGISTRANT_ID: lazy_gettext("Registrant ID"),
}

DEFAULT_TYPE_TO_SEND = {
    PayeeOption.BANK_ACCOUNT: "ACCOUNT_ID",
    PayeeOption.IBAN: "IBAN",
    PayeeOption.PHONE: "MSISDN",
    PayeeOption.EMAIL: "EMAIL",
}

CSV_UNSAFE = re.compile(r'[,"\r\n]')
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EMAIL = re.compile(r"^[^@\s,\"]+@[^@\s,\"]+\.[^@\s,\"]+$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{0,62}[A-Za-z0-9]$|^[A-Za-z0-9]$")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")


@dataclass(frozen=True)
class PayeeRule:
    """How to resolve and check payee identifiers for one manager configuration."""

    option: PayeeOption
    type_to_send: str
    id_type_name: str | None = None
    id_type_regex: str | None = None

    @classmethod
    def build(
        cls,
        option: PayeeOption,
        type_override: str = "",
        id_type_name: str | None = None,
        id_type_regex: str | None = None,
    ) -> PayeeRule:
        """The rule, with the default identifier type when no override is set."""
        default = DEFAULT_TYPE_TO_SEND.get(option, id_type_name or "")
        return cls(option, type_override or default, id_type_name, id_type_regex)

    def checker(self) -> Callable[[str | None], tuple[str | None, str | None]]:
        """A fast function value → (clean value, None) or (None, reason)."""
        check = _CHECKS[self.option]
        pattern = re.compile(self.id_type_regex) if self.id_type_regex else None
        missing = _MISSING[self.option].format(id_type=self.id_type_name)

        def run(value: str | None) -> tuple[str | None, str | None]:
            if value is None or not value.strip():
                return None, missing
            value = value.strip()
            if CSV_UNSAFE.search(value):
                return None, _("{option} {value!r} contains a comma, quote or line break").format(
                    option=self.option, value=value
                )
            reason = check(value)
            if reason is None and pattern is not None and not pattern.fullmatch(value):
                reason = _("{id_type_name} {value!r} does not match its ID type's pattern").format(
                    id_type_name=self.id_type_name, value=value
                )
            return (None, reason) if reason else (value, None)

        return run


_MISSING = {
    PayeeOption.BANK_ACCOUNT: "no active bank account",
    PayeeOption.IBAN: "no active bank account with an IBAN",
    PayeeOption.PHONE: "no enabled phone number",
    PayeeOption.EMAIL: "no email address",
    PayeeOption.REGISTRANT_ID: "no valid {id_type} ID",
}


def iban_is_valid(value: str) -> bool:
    """ISO 13616 mod-97 check of a compact, upper-case IBAN."""
    if not _IBAN.match(value):
        return False
    rearranged = value[4:] + value[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def _check_iban(value: str) -> str | None:
    return (
        None
        if iban_is_valid(value)
        else _("IBAN {value!r} fails its checksum or format").format(value=value)
    )


def _check_phone(value: str) -> str | None:
    return (
        None
        if _E164.match(value)
        else _("phone {value!r} is not in E.164 form (+<digits>)").format(value=value)
    )


def _check_email(value: str) -> str | None:
    return (
        None
        if _EMAIL.match(value)
        else _("email {value!r} is not a valid address").format(value=value)
    )


def _check_account(value: str) -> str | None:
    if _ACCOUNT.match(value):
        return None
    return _("bank account number {value!r} has characters PHEE cannot take").format(value=value)


def _check_registrant_id(value: str) -> str | None:
    return None if len(value) <= 100 else "ID value is longer than 100 characters"


_CHECKS: dict[PayeeOption, Callable[[str], str | None]] = {
    PayeeOption.BANK_ACCOUNT: _check_account,
    PayeeOption.IBAN: _check_iban,
    PayeeOption.PHONE: _check_phone,
    PayeeOption.EMAIL: _check_email,
    PayeeOption.REGISTRANT_ID: _check_registrant_id,
}
