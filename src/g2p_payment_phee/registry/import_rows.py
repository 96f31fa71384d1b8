"""Row rules of the registrant import: one raw row in, a clean record or its field errors out.

Pure Python (no database): the importer gives it the ID types and the date, and checks what
needs the database (existing references, groups, banks) afterwards, for a whole chunk at once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from g2p_payment_phee.errors import FieldError
from g2p_payment_phee.i18n import _
from g2p_payment_phee.registry import validation as v
from g2p_payment_phee.registry.import_reader import FieldLabels, RawRow
from g2p_payment_phee.registry.models import RegistrantKind
from g2p_payment_phee.registry.validation import FieldChecks

TEXT_LIMITS = {"given_name": 150, "family_name": 150, "name": 300, "address": 2000}
BANK_NAME_MAX = 200

BankKey = tuple[str | None, str | None, str | None]
"""A bank as a row names it: (code, name, country)."""


@dataclass(frozen=True, slots=True)
class IdTypeInfo:
    """What row validation needs to know of an ID type."""

    id: uuid.UUID
    name: str
    pattern: re.Pattern[str] | None
    enabled: bool = True  # a disabled type takes no new IDs


@dataclass(slots=True)
class AccountRecord:
    """A validated bank account of a row; ``bank`` is resolved to an id by the importer."""

    account_number: str
    iban: str | None
    bank: BankKey | None
    label_prefix: str


@dataclass(slots=True)
class RegistrantRecord:
    """A row that passed every rule that needs no database.

    ``fields`` holds the registrant columns the row gives (normalised); ``phones``, ``ids``,
    ``accounts`` are None when the row does not give them (a re-import then leaves them alone).
    """

    row: int
    reference: str
    kind: RegistrantKind | None
    fields: dict[str, Any]
    phones: list[str] | None
    ids: list[tuple[uuid.UUID, str, date | None]] | None
    accounts: list[AccountRecord] | None
    group_reference: str | None
    has_group: bool


class RowValidator:
    """Applies the row rules of one import (fixed ID types, date and phone region)."""

    def __init__(
        self,
        id_types: Mapping[str, IdTypeInfo],
        *,
        today: date,
        region: str | None,
        labels: FieldLabels,
    ) -> None:
        self.id_types = {name.casefold(): info for name, info in id_types.items()}
        self.today = today
        self.region = region
        self.labels = labels

    def validate(self, raw: RawRow) -> RegistrantRecord | list[FieldError]:
        """The clean record, or every problem of the row (with its row number)."""
        errors = list(raw.problems)
        values = raw.values
        check = FieldChecks(raw.row, errors)
        reference = check(v.normalize_reference, values.get("reference", ""))
        fields = self._fields(values, check)
        kind = check(v.parse_kind, values["kind"]) if values.get("kind", "").strip() else None
        group = self._group(values.get("group_reference", ""), kind, check)
        phones = self._phones(values["phones"], check) if "phones" in values else None
        ids = self._ids(values["ids"], fields.get("birthdate"), check) if "ids" in values else None
        accounts = None
        if "bank_accounts" in values:
            accounts = self._accounts(values["bank_accounts"], check)
        if errors or reference is None:
            return errors
        has_group = "group_reference" in values
        return RegistrantRecord(
            raw.row, reference, kind, fields, phones, ids, accounts, group, has_group
        )

    @staticmethod
    def _group(value: str, kind: RegistrantKind | None, check: FieldChecks) -> str | None:
        if not value.strip():
            return None
        if kind is RegistrantKind.GROUP:
            check.fail("group_reference", _("a group cannot be a member of a group"))
        return check(v.normalize_reference, value, field="group_reference")

    def _fields(self, values: dict[str, Any], check: FieldChecks) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name, limit in TEXT_LIMITS.items():
            if name in values:
                fields[name] = check(
                    v.clean_text,
                    values[name],
                    field=name,
                    max_length=limit,
                    multiline=name == "address",
                )
        if not fields.get("name") and (fields.get("given_name") or fields.get("family_name")):
            parts = (fields.get("given_name"), fields.get("family_name"))
            fields["name"] = " ".join(part for part in parts if part)
        if "name" in values and not fields.get("name") and "name" not in check.failed:
            check.fail("name", _("is required (or give given_name / family_name)"))
        if "email" in values:
            email = values["email"]
            fields["email"] = check(v.normalize_email, email) if email.strip() else None
        if "gender" in values:
            gender = values["gender"]
            fields["gender"] = check(v.parse_gender, gender) if gender.strip() else None
        if "birthdate" in values:
            fields["birthdate"] = self._birthdate(values["birthdate"], check)
        return fields

    def _birthdate(self, value: str, check: FieldChecks) -> date | None:
        if not value.strip():
            return None
        birthdate = check(v.parse_date, value, field="birthdate")
        if birthdate is None:
            return None
        return check(v.check_birthdate, birthdate, self.today)

    def _phones(self, phones: list[str], check: FieldChecks) -> list[str]:
        numbers: dict[str, None] = {}
        for index, phone in enumerate(phones):
            label = self.labels.nested("phones", index)
            number = check(v.normalize_phone, phone, self.region, field=label)
            if number is not None:
                numbers[number] = None
        return list(numbers)

    def _ids(
        self, items: list[dict[str, str]], birthdate: date | None, check: FieldChecks
    ) -> list[tuple[uuid.UUID, str, date | None]]:
        ids: dict[uuid.UUID, tuple[uuid.UUID, str, date | None]] = {}
        for index, item in enumerate(items):
            label = self.labels.nested
            id_type = self._id_type(item["type"], label("ids", index, "type"), check)
            if id_type is None:
                continue
            value = check(
                v.validate_id_value,
                item["value"],
                id_type.pattern,
                id_type=id_type.name,
                field=label("ids", index, "value"),
            )
            expiry = self._expiry(item["expiry"], birthdate, label("ids", index, "expiry"), check)
            if id_type.id in ids:
                check.fail(
                    label("ids", index, "type"),
                    _("a second {name} (one per type)").format(name=id_type.name),
                )
            elif value is not None:
                ids[id_type.id] = (id_type.id, value, expiry)
        return list(ids.values())

    def _id_type(self, name: str, label: str, check: FieldChecks) -> IdTypeInfo | None:
        if not name.strip():
            check.fail(label, _("is required with an ID value"))
            return None
        info = self.id_types.get(name.strip().casefold())
        if info is None:
            enabled = (i.name for i in self.id_types.values() if i.enabled)
            known = ", ".join(sorted(enabled)) or "none defined"
            check.fail(
                label,
                _("unknown ID type {name!r} (known: {known})").format(
                    name=name.strip(), known=known
                ),
            )
        elif not info.enabled:
            check.fail(
                label,
                _("the ID type {name!r} is disabled: it takes no new IDs").format(name=info.name),
            )
            return None
        return info

    @staticmethod
    def _expiry(value: str, birthdate: date | None, label: str, check: FieldChecks) -> date | None:
        if not value.strip():
            return None
        expiry = check(v.parse_date, value, field=label)
        if expiry is None:
            return None
        return check(v.check_id_expiry, expiry, birthdate, field=label)

    def _accounts(self, items: list[dict[str, str]], check: FieldChecks) -> list[AccountRecord]:
        accounts: dict[str, AccountRecord] = {}
        for index, item in enumerate(items):
            label = self.labels.nested
            iban = None
            if item["iban"].strip():
                iban = check(
                    v.normalize_iban, item["iban"], field=label("bank_accounts", index, "iban")
                )
            number_label = label("bank_accounts", index, "account_number")
            number = iban
            if item["account_number"].strip():
                number = check(
                    v.normalize_account_number, item["account_number"], field=number_label
                )
            elif not item["iban"].strip():
                check.fail(number_label, _("is required (or an iban)"))
            bank = self._bank(item, index, check)
            if number is None:
                continue
            if number in accounts:
                check.fail(
                    number_label, _("account {number} is listed twice").format(number=number)
                )
            prefix = self.labels.prefix("bank_accounts", index)
            accounts[number] = AccountRecord(number, iban, bank, prefix)
        return list(accounts.values())

    def _bank(self, item: dict[str, str], index: int, check: FieldChecks) -> BankKey | None:
        label = self.labels.nested
        code = name = country = None
        if item["bank_code"].strip():
            code = check(
                v.normalize_bank_code,
                item["bank_code"],
                field=label("bank_accounts", index, "bank_code"),
            )
        if item["bank_name"].strip():
            name = check(
                v.clean_text,
                item["bank_name"],
                field=label("bank_accounts", index, "bank_name"),
                max_length=BANK_NAME_MAX,
            )
        if item["bank_country"].strip():
            country = check(
                v.normalize_country,
                item["bank_country"],
                field=label("bank_accounts", index, "bank_country"),
            )
        if code is None and name is None:
            if country is not None:
                check.fail(
                    label("bank_accounts", index, "bank_country"),
                    _("needs a bank_name or bank_code"),
                )
            return None
        return (code, name, country)
