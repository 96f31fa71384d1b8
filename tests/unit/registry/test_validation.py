"""Registry value checks: normalised values out, or ValidationFailed with a reason to act on."""

from __future__ import annotations

import re
import string
from datetime import date

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.registry import validation as v
from g2p_payment_phee.registry.models import Gender, RegistrantKind


def reason_of(excinfo: pytest.ExceptionInfo[ValidationFailed]) -> str:
    [error] = excinfo.value.errors
    return error.reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+254712345678", "+254712345678"),
        (" +254 712 345 678 ", "+254712345678"),
        ("+254 (712) 345-678", "+254712345678"),
        ("+49 151 12345678", "+4915112345678"),
    ],
)
def test_international_numbers_become_e164(raw: str, expected: str) -> None:
    assert v.normalize_phone(raw) == expected


def test_local_numbers_need_a_region_and_say_how_to_give_one() -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        v.normalize_phone("0712345678")
    assert "no country code" in reason_of(excinfo)
    assert "G2P_DEFAULT_PHONE_REGION" in reason_of(excinfo)
    assert excinfo.value.errors[0].field == "phone"


def test_local_numbers_use_the_explicit_region_or_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert v.normalize_phone("0712 345 678", "KE") == "+254712345678"
    monkeypatch.setenv("G2P_DEFAULT_PHONE_REGION", "ke")
    get_settings.cache_clear()
    assert v.normalize_phone("0712345678") == "+254712345678"
    assert v.normalize_phone("030 1234567", "DE") == "+49301234567"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("+2547123", "too short for a +254 (KE) number"),
        ("+254 812 345 678", "not a valid +254 (KE) number"),
        ("+999 1234567", "unknown country code"),
        ("+254 7I2 345 678", "may only contain digits"),
        ("", "is empty"),
    ],
)
def test_bad_phone_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        v.normalize_phone(raw, field="phones[0]")
    assert reason in reason_of(excinfo)
    assert excinfo.value.errors[0].field == "phones[0]"


@given(st.integers(min_value=0, max_value=99_999_999), st.sampled_from("0124579"))
def test_normalised_kenyan_mobiles_are_stable(suffix: int, prefix: str) -> None:
    number = v.normalize_phone(f"+2547{prefix}{suffix:07d}"[:13])
    assert re.fullmatch(r"\+254[0-9]{9}", number)
    assert v.normalize_phone(number) == number


def _full_parse(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _example_numbers() -> list[tuple[int, str, str]]:
    """(country code, a national prefix or "", a valid national number) for every region."""
    examples = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        prefix = (metadata.national_prefix if metadata else None) or ""
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None and example.country_code is not None:
                national = phonenumbers.national_significant_number(example)
                examples.append((example.country_code, prefix, national))
    return examples


@settings(max_examples=1000)
@given(
    st.sampled_from(_example_numbers()),
    st.sampled_from(["", "0", "prefix"]),
    st.text("0123456789", min_size=0, max_size=3),
    st.integers(min_value=0, max_value=3),
    st.booleans(),
)
def test_phone_checks_agree_with_a_full_phonenumbers_parse(
    example: tuple[int, str, str], insert: str, tail: str, cut: int, spaced: bool
) -> None:
    code, prefix, national = example
    national = national[: len(national) - cut] + tail
    inserted = prefix if insert == "prefix" else insert
    text = f"+{code} {inserted}{national}" if spaced else f"+{code}{inserted}{national}"
    expected = _full_parse(text)
    try:
        actual: str | None = v.normalize_phone(text)
    except ValidationFailed:
        actual = None
    assert actual == expected


def test_email_domain_is_lower_cased_and_local_part_kept() -> None:
    assert v.normalize_email("  Jane.Doe@Example.ORG ") == "Jane.Doe@example.org"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("jane", "must have an @-sign"),
        ("jane@@example.org", "is not a valid email address"),
        ("jane..doe@example.org", "two periods in a row"),
        ("jane@example.test", "special-use or reserved"),
        ("jane,doe@example.org", "invalid characters"),
        ('"jane doe"@example.org', "Quoting"),
    ],
)
def test_bad_emails_say_why(raw: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        v.normalize_email(raw)
    assert reason in reason_of(excinfo)


_LOCAL = st.text(string.ascii_letters + string.digits + "._+-!#'", min_size=1, max_size=70)
_DOMAIN = st.sampled_from(
    ["example.org", "EXAMPLE.com", "mail.example.co.ke", "x-y.org", "a.b", "-bad.org", "x.test",
     "x..org", "localhost", "x.123", "xn--80ak6aa92e.com", "bücher.example", "a" * 64 + ".org"]
)  # fmt: skip


@given(local=_LOCAL, domain=_DOMAIN)
def test_email_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    try:
        expected: str | None = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        actual: str | None = v.normalize_email(address)
    except ValidationFailed:
        actual = None
    assert actual == expected


def test_iban_is_compacted_and_upper_cased() -> None:
    assert v.normalize_iban(" de89 3704 0044 0532 0130 00 ") == "DE89370400440532013000"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("DE89370400440532013001", "invalid checksum digits"),
        ("XX89370400440532013000", "unknown country-code"),
        ("DE8937040044053201300", "invalid IBAN length"),
        ("DE89,370400440532013000", "must not contain a comma"),
    ],
)
def test_bad_ibans_say_why(raw: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        v.normalize_iban(raw)
    assert reason in reason_of(excinfo)


def test_account_numbers_lose_spaces_and_keep_letters_digits_and_dashes() -> None:
    assert v.normalize_account_number(" 0123 4567-AB ") == "01234567-AB"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0123,456", "must not contain a comma"),
        ('0123"456', "must not contain a double quote"),
        ("0123\r\n456", "must not contain a line break"),
        ("0123.456", "may only contain letters, digits and '-'"),
        ("012", "must have 4 to 64 characters, not 3"),
        ("1" * 65, "not 65"),
    ],
)
def test_bad_account_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        v.normalize_account_number(raw)
    assert reason in reason_of(excinfo)


@given(st.text(min_size=1, max_size=80))
def test_accepted_account_numbers_are_safe_in_a_comma_split_csv(raw: str) -> None:
    try:
        value = v.normalize_account_number(raw)
    except ValidationFailed:
        return
    assert not set(value) & {",", '"', "\r", "\n", " "}
    assert v.ACCOUNT_MIN <= len(value) <= v.ACCOUNT_MAX


def test_id_values_must_match_the_whole_regex() -> None:
    pattern = v.compile_id_regex("[0-9]{8}")
    assert v.validate_id_value(" 12345678 ", pattern, id_type="National ID") == "12345678"
    with pytest.raises(ValidationFailed) as excinfo:
        v.validate_id_value("123456789", pattern, id_type="National ID")
    assert reason_of(excinfo) == "'123456789' does not match the National ID format [0-9]{8}"
    assert v.validate_id_value("A-1", None, id_type="Passport") == "A-1"


def test_id_values_may_not_break_the_payment_csv_even_if_the_regex_allows_it() -> None:
    with pytest.raises(ValidationFailed, match="comma"):
        v.validate_id_value("12,34", ".*", id_type="Other")


def test_an_id_type_regex_must_compile() -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        v.compile_id_regex("[0-9")
    assert "not a valid regular expression" in reason_of(excinfo)
    assert excinfo.value.errors[0].field == "validation_regex"


@pytest.mark.parametrize("raw", ["", " ", "-R1", "R 1", "R,1", "R" * 101])
def test_bad_references_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed):
        v.normalize_reference(raw)


def test_references_are_stripped() -> None:
    assert v.normalize_reference(" HH-001/a ") == "HH-001/a"


def test_dates_must_be_iso_and_in_order() -> None:
    today = date(2025, 6, 1)
    assert v.parse_date("1980-02-29", field="birthdate") == date(1980, 2, 29)
    for bad in ("1981-02-29", "01/02/1980", "1980-W01-1", "19800101"):
        with pytest.raises(ValidationFailed, match="YYYY-MM-DD"):
            v.parse_date(bad, field="birthdate")
    with pytest.raises(ValidationFailed, match="is in the future"):
        v.check_birthdate(date(2025, 6, 2), today)
    with pytest.raises(ValidationFailed, match="more than 130 years ago"):
        v.check_birthdate(date(1890, 1, 1), today)
    with pytest.raises(ValidationFailed, match="not after the birthdate 1980-01-01"):
        v.check_id_expiry(date(1979, 12, 31), date(1980, 1, 1))
    assert v.check_id_expiry(date(1979, 12, 31), None) == date(1979, 12, 31)


def test_gender_kind_country_and_bank_code_spellings() -> None:
    assert v.parse_gender(" F ") is Gender.FEMALE
    assert v.parse_gender("Male") is Gender.MALE
    assert v.parse_kind("GROUP") is RegistrantKind.GROUP
    assert v.normalize_country("ke") == "KE"
    assert v.normalize_bank_code(" eqblkena ") == "EQBLKENA"
    for check, bad in (
        (v.parse_gender, "x"),
        (v.parse_kind, "household"),
        (v.normalize_country, "XX"),
        (v.normalize_bank_code, "EQ BL"),
    ):
        with pytest.raises(ValidationFailed):
            check(bad)


def test_free_text_refuses_control_characters_except_address_line_breaks() -> None:
    assert v.clean_text("  ", field="name", max_length=10) is None
    assert v.clean_text("a\nb", field="address", max_length=10, multiline=True) == "a\nb"
    with pytest.raises(ValidationFailed, match="control characters"):
        v.clean_text("a\nb", field="name", max_length=10)
    with pytest.raises(ValidationFailed, match="at most 3 characters, not 4"):
        v.clean_text("abcd", field="name", max_length=3)


def test_field_checks_collect_every_problem() -> None:
    checks = v.FieldChecks(row=7)
    assert checks(v.normalize_email, "bad") is None
    assert checks(v.normalize_phone, "+254712345678") == "+254712345678"
    assert checks(v.normalize_iban, "DE00", field="iban") is None
    with pytest.raises(ValidationFailed) as excinfo:
        checks.raise_if_failed("the thing")
    assert [(e.field, e.row) for e in excinfo.value.errors] == [("email", 7), ("iban", 7)]
    assert excinfo.value.message.startswith("the thing is not valid: row 7: email:")
