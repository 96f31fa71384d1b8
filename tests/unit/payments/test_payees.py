"""Payee rules: default identifier types, overrides, and the checks of every identifier kind."""

from __future__ import annotations

import pytest

from g2p_payment_phee.payments.payees import PayeeOption, PayeeRule, iban_is_valid


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (PayeeOption.BANK_ACCOUNT, "ACCOUNT_ID"),
        (PayeeOption.IBAN, "IBAN"),
        (PayeeOption.PHONE, "MSISDN"),
        (PayeeOption.EMAIL, "EMAIL"),
    ],
)
def test_default_identifier_types_and_the_override(option: PayeeOption, expected: str) -> None:
    assert PayeeRule.build(option).type_to_send == expected
    assert PayeeRule.build(option, "CUSTOM").type_to_send == "CUSTOM"


def test_registrant_id_sends_the_id_type_name() -> None:
    assert (
        PayeeRule.build(PayeeOption.REGISTRANT_ID, "", "National ID").type_to_send == "National ID"
    )


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        (PayeeOption.PHONE, None, "no enabled phone number"),
        (PayeeOption.PHONE, "0712345678", "not in E.164"),
        (PayeeOption.IBAN, "DE00370400440532013000", "checksum"),
        (PayeeOption.IBAN, None, "no active bank account with an IBAN"),
        (PayeeOption.EMAIL, "no-at-sign", "not a valid address"),
        (PayeeOption.BANK_ACCOUNT, "12,34", "comma, quote or line break"),
        (PayeeOption.BANK_ACCOUNT, 'ab"c', "comma, quote or line break"),
        (PayeeOption.BANK_ACCOUNT, "12\n34", "comma, quote or line break"),
        (PayeeOption.BANK_ACCOUNT, "12#34", "characters PHEE cannot take"),
    ],
)
def test_invalid_identifiers_are_refused_with_a_reason(
    option: PayeeOption, value: str | None, reason: str
) -> None:
    clean, why = PayeeRule.build(option).checker()(value)
    assert clean is None
    assert why is not None
    assert reason in why


@pytest.mark.parametrize(
    ("option", "value"),
    [
        (PayeeOption.PHONE, "+254712345678"),
        (PayeeOption.IBAN, "DE89370400440532013000"),
        (PayeeOption.EMAIL, "ann@example.org"),
        (PayeeOption.BANK_ACCOUNT, "0012345678"),
    ],
)
def test_valid_identifiers_pass_unchanged(option: PayeeOption, value: str) -> None:
    assert PayeeRule.build(option).checker()(f" {value} ") == (value, None)


def test_registrant_id_follows_its_type_pattern() -> None:
    check = PayeeRule.build(PayeeOption.REGISTRANT_ID, "", "National ID", r"[0-9]{8}").checker()
    assert check("12345678") == ("12345678", None)
    clean, why = check("1234567X")
    assert clean is None
    assert "does not match" in str(why)
    assert check(None)[1] == "no valid National ID ID"


def test_iban_checksum() -> None:
    assert iban_is_valid("GB82WEST12345698765432")
    assert not iban_is_valid("GB82WEST12345698765433")
    assert not iban_is_valid("gb82west12345698765432")
