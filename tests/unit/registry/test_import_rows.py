"""Row rules of the import, without a database: clean records or errors with row, field, reason."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

import pytest

from g2p_payment_phee.errors import FieldError
from g2p_payment_phee.registry.import_reader import FieldLabels, RawRow, read_rows
from g2p_payment_phee.registry.import_rows import IdTypeInfo, RegistrantRecord, RowValidator
from g2p_payment_phee.registry.models import Gender, RegistrantKind
from g2p_payment_phee.registry.sample_data import (
    NATIONAL_ID,
    NATIONAL_ID_REGEX,
    generate_registrants_csv,
)

NATIONAL = IdTypeInfo(uuid.uuid4(), NATIONAL_ID, re.compile(NATIONAL_ID_REGEX))
PASSPORT = IdTypeInfo(uuid.uuid4(), "Passport", None)
TODAY = date(2025, 6, 1)


def validator(fmt: str = "csv") -> RowValidator:
    return RowValidator(
        {NATIONAL.name: NATIONAL, PASSPORT.name: PASSPORT},
        today=TODAY,
        region=None,
        labels=FieldLabels(fmt),  # type: ignore[arg-type]
    )


def csv_record(header: str, line: str) -> RegistrantRecord | list[FieldError]:
    [raw] = list(read_rows(f"{header}\n{line}\n".encode(), "csv"))
    return validator().validate(raw)


def json_record(values: dict[str, Any]) -> RegistrantRecord | list[FieldError]:
    return validator("json").validate(RawRow(4, values, frozenset(values)))


def errors_of(result: RegistrantRecord | list[FieldError]) -> list[tuple[str, str]]:
    return [(error.field, error.reason) for error in as_errors(result)]


def as_errors(result: RegistrantRecord | list[FieldError]) -> list[FieldError]:
    assert isinstance(result, list), f"expected errors, got {result}"
    return result


FULL_HEADER = (
    "reference,kind,name,given_name,family_name,birthdate,gender,address,email,phone,"
    "id_type,id_value,id_expiry,bank_name,bank_code,bank_country,account_number,iban"
)


def test_a_complete_row_is_normalised() -> None:
    record = csv_record(
        FULL_HEADER,
        'R1,Individual,,Amina,Hassan,1980-05-01,F,"Box 1, Garissa",Amina@Example.org,'
        "+254 712 345 678;+254712345678,national id,12345678,2030-01-01,"
        "Commerzbank,cobadeffxxx,de,,de89 3704 0044 0532 0130 00",
    )
    assert isinstance(record, RegistrantRecord)
    assert record.row == 2
    assert record.kind is RegistrantKind.INDIVIDUAL
    assert record.fields == {
        "given_name": "Amina",
        "family_name": "Hassan",
        "name": "Amina Hassan",
        "address": "Box 1, Garissa",
        "email": "Amina@example.org",
        "gender": Gender.FEMALE,
        "birthdate": date(1980, 5, 1),
    }
    assert record.phones == ["+254712345678"]
    assert record.ids == [(NATIONAL.id, "12345678", date(2030, 1, 1))]
    [account] = record.accounts or []
    assert account.account_number == account.iban == "DE89370400440532013000"
    assert account.bank == ("COBADEFFXXX", "Commerzbank", "DE")
    assert record.has_group is False


def test_each_bad_value_is_reported_with_its_csv_column() -> None:
    result = csv_record(
        FULL_HEADER,
        "R 1,person,,,,2030-01-01,x,,not-an-email,0712345678,Passportt,1,2000-01-01,"
        ",,XX,12,DE89370400440532013001",
    )
    fields = dict(errors_of(result))
    assert set(fields) == {
        "reference",
        "kind",
        "name",
        "birthdate",
        "gender",
        "email",
        "phone",
        "id_type",
        "bank_country",
        "iban",
        "account_number",
    }
    assert fields["id_type"] == "unknown ID type 'Passportt' (known: National ID, Passport)"
    assert "is in the future" in fields["birthdate"]
    assert {error.row for error in as_errors(result)} == {2}


def test_regex_failures_and_expiry_before_birthdate_are_errors() -> None:
    result = csv_record(
        "reference,name,birthdate,id_type,id_value,id_expiry",
        "R1,A,1990-01-01,National ID,1234567,1989-12-31",
    )
    assert errors_of(result) == [
        ("id_value", "'1234567' does not match the National ID format [0-9]{8}"),
        ("id_expiry", "1989-12-31 is not after the birthdate 1990-01-01"),
    ]


def test_a_name_may_be_built_from_given_and_family_names_but_not_left_empty() -> None:
    assert errors_of(csv_record("reference,name", "R1,")) == [
        ("name", "is required (or give given_name / family_name)")
    ]
    record = csv_record("reference,name,family_name", "R1,,Odhiambo")
    assert isinstance(record, RegistrantRecord)
    assert record.fields["name"] == "Odhiambo"


def test_a_group_cannot_name_a_group() -> None:
    result = csv_record("reference,kind,name,group_reference", "H1,group,Home,H0")
    assert errors_of(result) == [("group_reference", "a group cannot be a member of a group")]
    record = csv_record("reference,name,group_reference", "R1,A,H0")
    assert isinstance(record, RegistrantRecord)
    assert (record.kind, record.group_reference, record.has_group) == (None, "H0", True)


def test_json_errors_use_paths_into_the_nested_lists() -> None:
    result = json_record(
        {
            "reference": "R1",
            "name": "A",
            "phones": ["+254712345678", "+2547"],
            "ids": [
                {"type": "Passport", "value": "A1", "expiry": ""},
                {"type": "passport", "value": "A2", "expiry": ""},
            ],
            "bank_accounts": [
                dict.fromkeys(("bank_name", "bank_code", "bank_country", "iban"), "")
                | {"account_number": "0123456"},
                {"bank_name": "", "bank_code": "", "bank_country": "", "iban": ""}
                | {"account_number": "0123 456"},
            ],
        }
    )
    assert errors_of(result) == [
        ("phones[1]", "'+2547' is too short to be a phone number"),
        ("ids[1].type", "a second Passport (one per type)"),
        ("bank_accounts[1].account_number", "account 0123456 is listed twice"),
    ]
    assert {error.row for error in as_errors(result)} == {4}


def test_json_rows_give_only_what_they_name() -> None:
    record = json_record({"reference": "R1", "email": ""})
    assert isinstance(record, RegistrantRecord)
    assert record.fields == {"email": None}
    assert (record.phones, record.ids, record.accounts, record.has_group) == (
        None,
        None,
        None,
        False,
    )


def test_bank_code_without_name_or_country_alone() -> None:
    result = csv_record("reference,name,bank_country,account_number", "R1,A,KE,0123456")
    assert errors_of(result) == [("bank_country", "needs a bank_name or bank_code")]


@pytest.mark.parametrize("share", [0.0, 0.3])
def test_sample_rows_all_pass_the_row_rules(share: float) -> None:
    data = generate_registrants_csv(300, seed=7, invalid_share=share)
    rows = list(read_rows(data, "csv"))
    records = [validator().validate(row) for row in rows]
    assert all(isinstance(record, RegistrantRecord) for record in records)
    unpayable = [r for r in records if isinstance(r, RegistrantRecord) and not r.phones]
    if share == 0.0:
        assert unpayable == []
    else:
        assert 0.15 * 300 < len(unpayable) < 0.45 * 300
        assert all(not r.accounts and not r.ids and not r.fields["email"] for r in unpayable)


def test_sample_data_is_reproducible_and_has_unique_references() -> None:
    first = generate_registrants_csv(200, seed=3, invalid_share=0.1)
    assert first == generate_registrants_csv(200, seed=3, invalid_share=0.1)
    assert first != generate_registrants_csv(200, seed=4, invalid_share=0.1)
    references = [row.values["reference"] for row in read_rows(first, "csv")]
    assert len(set(references)) == 200
    assert any(
        row.values["bank_accounts"] and row.values["bank_accounts"][0]["iban"]
        for row in read_rows(first, "csv")
    )
