"""Reading what senders write: timestamps as OpenG2P writes them, financial addresses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from g2p_payment_phee.g2p_connect.addresses import BadAddress, FaKind, read_payee_fa
from g2p_payment_phee.g2p_connect.envelope import Refused, parse_timestamp, read_envelope
from g2p_payment_phee.payments.payees import PayeeOption


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-31T10:00:00Z", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        ("2024-01-31 10:00:00.123456", datetime(2024, 1, 31, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-01-31T13:00:00+03:00", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        ("2024-01-31T13:00:00+0300", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        ("2024-01-31t10:00:00.5z", datetime(2024, 1, 31, 10, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_timestamps_with_or_without_t_and_zone(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01T00:00:00Z", "2024-01-31"])
def test_what_is_no_timestamp(text: str) -> None:
    assert parse_timestamp(text) is None


def test_an_unknown_action_is_refused_with_the_endpoint_s_verbs() -> None:
    body = {"header": {"message_id": "m", "message_ts": "2024-01-31T10:00:00Z", "action": "x"}}
    with pytest.raises(Refused) as refused:
        read_envelope({**body, "message": {}}, frozenset({"disburse"}))
    assert refused.value.code == "err.request.bad"
    assert "disburse" in refused.value.message


@pytest.mark.parametrize(
    ("fa", "option", "kind", "value", "provider"),
    [
        (
            "mobile:+254 700 000 001@mpesa",
            PayeeOption.PHONE,
            FaKind.PHONE,
            "+254700000001",
            "mpesa",
        ),
        ("PHONE:+254700000001", PayeeOption.PHONE, FaKind.PHONE, "+254700000001", ""),
        (
            "account_no:12345678@BANKKEBX",
            PayeeOption.BANK_ACCOUNT,
            FaKind.ACCOUNT,
            "12345678",
            "BANKKEBX",
        ),
        (
            "iban:DE89 3704 0044 0532 0130 00@COBADEFF",
            PayeeOption.IBAN,
            FaKind.IBAN,
            "DE89370400440532013000",
            "COBADEFF",
        ),
        (
            "iban:DE89370400440532013000",
            PayeeOption.BANK_ACCOUNT,
            FaKind.IBAN,
            "DE89370400440532013000",
            "",
        ),
        ("email:Jane@Example.org", PayeeOption.EMAIL, FaKind.EMAIL, "jane@example.org", ""),
        (
            "email:jane@example.org@mailbank",
            PayeeOption.EMAIL,
            FaKind.EMAIL,
            "jane@example.org",
            "mailbank",
        ),
        (
            "token:12345678@national-id",
            PayeeOption.REGISTRANT_ID,
            FaKind.TOKEN,
            "12345678",
            "national-id",
        ),
    ],
)
def test_financial_addresses_name_a_registrant_identifier(
    fa: str, option: PayeeOption, kind: FaKind, value: str, provider: str
) -> None:
    payee = read_payee_fa(fa, option)
    assert (payee.kind, payee.value, payee.provider) == (kind, value, provider)


@pytest.mark.parametrize(
    ("fa", "option", "reason"),
    [
        ("joeuser@national-bank", PayeeOption.BANK_ACCOUNT, "no known type"),
        ("bank:123@x", PayeeOption.BANK_ACCOUNT, "no known type"),
        ("account:12345678@B", PayeeOption.PHONE, "pays by Phone"),
        ("mobile:12345", PayeeOption.PHONE, "payee_fa"),
        ("iban:DE00370400440532013000", PayeeOption.IBAN, "payee_fa"),
        (42, PayeeOption.PHONE, "missing"),
    ],
)
def test_unusable_addresses_say_why(fa: object, option: PayeeOption, reason: str) -> None:
    with pytest.raises(BadAddress) as bad:
        read_payee_fa(fa, option)
    assert reason in bad.value.reason


def test_the_quick_reading_leaves_country_rules_to_the_intake() -> None:
    """+999… has the form of an international number but no country: receipt lets it through,
    the intake's full reading refuses it."""
    assert (
        read_payee_fa("mobile:+99912345678", PayeeOption.PHONE, quick=True).value == "+99912345678"
    )
    with pytest.raises(BadAddress):
        read_payee_fa("mobile:+99912345678", PayeeOption.PHONE)
