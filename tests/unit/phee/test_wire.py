"""Reading PHEE values: times in either form, amounts as Decimal, never float; JSON bodies in
their declared charset, else UTF-8."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from g2p_payment_phee.phee.errors import PheeProtocolError, Redactor
from g2p_payment_phee.phee.wire import decode_json, parse_amount, parse_timestamp

NOON = datetime(2024, 7, 15, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        1721037600000,
        "1721037600000",
        Decimal("1721037600000"),
        "2024-07-15T10:00:00Z",
        "2024-07-15T10:00:00",
        "2024-07-15 10:00:00",
        "2024-07-15T15:30:00+05:30",
        "2024-07-15T10:00:00.000+00:00",
        "Mon Jul 15 10:00:00 UTC 2024",
        "Mon Jul 15 10:00:00 GMT 2024",
    ],
)
def test_times_in_every_form_are_utc(value):
    moment = parse_timestamp(value)
    assert moment == NOON
    assert moment is not None
    assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", [None, ""])
def test_absent_times_are_none(value):
    assert parse_timestamp(value) is None


@pytest.mark.parametrize(
    "value", ["yesterday", True, [1], {"t": 1}, "Mon Jul 15 10:00:00 IST 2024", 10**30]
)
def test_bad_times_raise_value_error(value):
    with pytest.raises(ValueError, match="time"):
        parse_timestamp(value)


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
def test_epoch_millis_round_trip(moment):
    aware = moment.replace(microsecond=moment.microsecond // 1000 * 1000, tzinfo=UTC)
    millis = int((aware - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    assert parse_timestamp(millis) == aware
    assert parse_timestamp(aware.isoformat()) == aware
    assert parse_timestamp(aware.astimezone(timezone(timedelta(hours=-7))).isoformat()) == aware


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100", Decimal(100)),
        (100, Decimal(100)),
        (Decimal("12.50"), Decimal("12.50")),
        (" 7 ", Decimal(7)),
        (None, None),
        ("", None),
    ],
)
def test_amounts_are_decimal(value, expected):
    amount = parse_amount(value)
    assert amount == expected
    assert amount is None or isinstance(amount, Decimal)


@pytest.mark.parametrize("value", ["ten", "NaN", "Infinity", True, 1.5, [1]])
def test_bad_amounts_raise_value_error(value):
    with pytest.raises(ValueError, match="amount"):
        parse_amount(value)


# --- JSON bodies ------------------------------------------------------------------------------


def _answer(content: bytes, content_type: str) -> httpx.Response:
    request = httpx.Request("GET", "https://hub.test/api/v1/batch/b1")
    return httpx.Response(
        200, content=content, headers={"Content-Type": content_type}, request=request
    )


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ('{"note": "café", "amount": 10.50}'.encode(), "application/json"),
        ('{"note": "café", "amount": 10.50}'.encode(), "application/json;charset=UTF-8"),
        (
            '{"note": "café", "amount": 10.50}'.encode("latin-1"),
            "application/json; charset=ISO-8859-1",
        ),
    ],
    ids=["no-charset-utf8", "declared-utf8", "declared-latin1"],
)
def test_json_bodies_are_read_in_their_declared_charset_else_utf8(content, content_type):
    data = decode_json(_answer(content, content_type), Redactor([]), "batch summary")
    assert data == {"note": "café", "amount": Decimal("10.50")}
    assert isinstance(data["amount"], Decimal)


def test_undecodable_bytes_are_replaced_as_httpx_text_would():
    answer = _answer(b'{"note": "caf\xe9"}', "application/json")
    assert decode_json(answer, Redactor([]), "batch summary") == {"note": "caf\ufffd"}
    assert answer.text == '{"note": "caf\ufffd"}'


@pytest.mark.parametrize("content", [b"<html>busy</html>", b'{"amount": NaN}', b""])
def test_what_is_not_json_is_a_protocol_error(content):
    with pytest.raises(PheeProtocolError, match="not JSON"):
        decode_json(_answer(content, "application/json"), Redactor([]), "batch summary")
