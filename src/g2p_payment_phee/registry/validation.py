"""Pure checks of registry values: each returns the normalised value or raises ValidationFailed.

Used by the registry services, the bulk importer and, later, by payee resolution at payment
preparation, so a value accepted into the registry is a value the PHEE CSV can carry: nothing
that ends up in a payment identifier may contain a comma, a double quote, a CR or a LF.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any, NoReturn, TypeVar

import phonenumbers
from babel import Locale
from email_validator import EmailNotValidError, validate_email
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _, lazy_gettext
from g2p_payment_phee.registry.models import Gender, RegistrantKind

T = TypeVar("T")

REFERENCE_MAX = 100
ID_VALUE_MAX = 100
ID_REGEX_MAX = 500
ACCOUNT_MIN, ACCOUNT_MAX = 4, 64
BANK_CODE_MAX = 20
MAX_AGE_YEARS = 130

_REFERENCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*")
_ACCOUNT_RE = re.compile(r"[A-Za-z0-9-]+")
_PHONE_CHARS_RE = re.compile(r"\+?[0-9 ().\-/]+")
_PHONE_FORMATTING = str.maketrans("", "", " ().-/")
_E164_RE = re.compile(r"\+([1-9][0-9]{6,14})")
_BANK_CODE_RE = re.compile(r"[A-Za-z0-9-]+")
_CSV_UNSAFE = {
    ",": lazy_gettext("a comma"),
    '"': lazy_gettext("a double quote"),
    "\r": lazy_gettext("a line break"),
    "\n": lazy_gettext("a line break"),
}
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A dot-atom local part of plain ASCII "atext" characters, and an ASCII host name.
_SIMPLE_EMAIL_RE = re.compile(
    r"([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)
EMAIL_LOCAL_MAX, EMAIL_MAX = 64, 254
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_GENDER_ALIASES = {"f": Gender.FEMALE, "m": Gender.MALE, "o": Gender.OTHER, "u": Gender.UNKNOWN}

_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: lazy_gettext(
        "{text!r} has an unknown country code"
    ),
    phonenumbers.NumberParseException.NOT_A_NUMBER: lazy_gettext("{text!r} is not a phone number"),
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: lazy_gettext(
        "{text!r} is too short to be a phone number"
    ),
    phonenumbers.NumberParseException.TOO_SHORT_NSN: lazy_gettext(
        "{text!r} is too short to be a phone number"
    ),
    phonenumbers.NumberParseException.TOO_LONG: lazy_gettext(
        "{text!r} is too long to be a phone number"
    ),
}
_LENGTH_REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: lazy_gettext("is too short"),
    phonenumbers.ValidationResult.TOO_LONG: lazy_gettext("is too long"),
    phonenumbers.ValidationResult.INVALID_LENGTH: lazy_gettext("has the wrong number of digits"),
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: lazy_gettext("has an unknown country code"),
}


def reject(field: str, reason: str) -> NoReturn:
    """Raise ValidationFailed for one field (the shape every check here uses)."""
    raise ValidationFailed(f"{field}: {reason}", [FieldError(field, reason)])


class FieldChecks:
    """Runs checks, collecting every field error instead of stopping at the first.

    ``checks(normalize_email, value)`` returns the check's result, or None after recording its
    errors (with ``row`` when checking an import row).
    """

    def __init__(self, row: int | None = None, errors: list[FieldError] | None = None) -> None:
        self.row = row
        self.errors: list[FieldError] = errors if errors is not None else []
        self.failed: set[str] = set()

    def __call__(self, check: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return check(*args, **kwargs)
        except ValidationFailed as error:
            for problem in error.errors:
                self.fail(problem.field, problem.reason)
            return None

    def fail(self, field: str, reason: str) -> None:
        """Record one problem."""
        self.failed.add(field)
        self.errors.append(FieldError(field, reason, self.row))

    def raise_if_failed(self, what: str) -> None:
        """ValidationFailed listing every problem, if there was any."""
        if self.errors:
            details = "; ".join(str(error) for error in self.errors)
            raise ValidationFailed(
                _("{what} is not valid: {details}").format(what=what, details=details),
                list(self.errors),
            )


def _check_csv_safe(value: str, field: str) -> None:
    for char, name in _CSV_UNSAFE.items():
        if char in value:
            reject(
                field,
                _("must not contain {name} (the PHEE payment file cannot carry it)").format(
                    name=name
                ),
            )


def normalize_phone(value: str, region: str | None = None, *, field: str = "phone") -> str:
    """The number in E.164 (``+254712345678``).

    ``region`` (ISO 3166 alpha-2) says how to read numbers written without ``+country``; when
    not given, the ``G2P_DEFAULT_PHONE_REGION`` setting is used, and without it such numbers are
    refused with a reason saying how to fix them.
    """
    text = value.strip()
    if not text:
        reject(field, _("is empty"))
    if not _PHONE_CHARS_RE.fullmatch(text):
        reject(
            field,
            _("{text!r} may only contain digits, spaces, '+', '-', '.', '/' and brackets").format(
                text=text
            ),
        )
    fast = _plain_international_e164(text)
    if fast is not None:
        return fast
    region = (region or get_settings().default_phone_region or "").upper() or None
    if region is None and not text.startswith("+"):
        reject(
            field,
            _(
                "{text!r} has no country code: write it as +<country code><number> (or "
                "set G2P_DEFAULT_PHONE_REGION)"
            ).format(text=text),
        )
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        reason = _PARSE_REASONS.get(error.error_type) or _("{text!r} is not a phone number")
        reject(field, str(reason).format(text=text))
    if not phonenumbers.is_valid_number(number):
        reject(field, f"{text!r} {_invalid_phone_reason(number)}")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _plain_international_e164(text: str) -> str | None:
    """The E.164 form of a valid ``+<digits>`` number that ``phonenumbers.parse`` keeps as is.

    ``parse`` costs most of the phone check (regexes for extensions, prefixes, carrier codes);
    for the common case of a number already written internationally, the country code and the
    national number are read directly and only validity is asked of phonenumbers.  Numbers a
    full parse could rewrite (a national prefix after the country code, leading zeros, regions
    with pattern prefixes) and invalid ones return None and take the full path, which also
    gives the reasons.  A property test holds both paths equal.
    """
    match = _E164_RE.fullmatch(text.translate(_PHONE_FORMATTING))
    if match is None:
        return None
    digits = match[1]
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            prefix = _literal_national_prefix(code)
            if (
                prefix is None
                or national.startswith("0")
                or (prefix and national.startswith(prefix))
            ):
                return None
            number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
            return f"+{digits}" if phonenumbers.is_valid_number(number) else None
    return None


@lru_cache(maxsize=512)
def _literal_national_prefix(country_code: int) -> str | None:
    """The country's national prefix for parsing if it is plain digits ("" if none), else None."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None or metadata.national_prefix_transform_rule:
        return None
    prefix = metadata.national_prefix_for_parsing or ""
    return prefix if prefix.isdigit() or prefix == "" else None


def _invalid_phone_reason(number: phonenumbers.PhoneNumber) -> str:
    code = number.country_code or 0
    region = phonenumbers.region_code_for_country_code(code)
    where = f"+{code} ({region})" if region != "ZZ" else f"+{code}"
    result = phonenumbers.is_possible_number_with_reason(number)
    if result in _LENGTH_REASONS:
        return _("{reason} for a {where} number").format(
            reason=_LENGTH_REASONS[result], where=where
        )
    return _("is not a valid {where} number").format(where=where)


def normalize_email(value: str, *, field: str = "email") -> str:
    """The address as email-validator normalises it (domain lower-cased); syntax only, no DNS.

    Plain ASCII addresses take a fast path that asks email-validator about the domain once per
    domain (the costly part) and checks the dot-atom local part and lengths as it would; the
    result is the same (a property test holds them equal), at a fraction of the cost on bulk
    imports.  Anything else goes to email-validator whole.
    """
    text = value.strip()
    if not text:
        reject(field, _("is empty"))
    simple = _SIMPLE_EMAIL_RE.fullmatch(text)
    if simple is not None and len(simple[1]) <= EMAIL_LOCAL_MAX and len(text) <= EMAIL_MAX:
        domain = _email_domain(simple[2])
        if domain is not None:
            return f"{simple[1]}@{domain}"
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        reject(
            field,
            _("{text!r} is not a valid email address: {error}").format(text=text, error=error),
        )
    return str(result.normalized)


@lru_cache(maxsize=4096)
def _email_domain(domain: str) -> str | None:
    """The normalised domain if email-validator accepts it, None otherwise."""
    try:
        return str(validate_email(f"a@{domain}", check_deliverability=False).domain)
    except EmailNotValidError:
        return None


def normalize_iban(value: str, *, field: str = "iban") -> str:
    """The IBAN in compact upper-case form, checked for country, length, structure and checksum."""
    text = value.strip()
    if not text:
        reject(field, _("is empty"))
    _check_csv_safe(text, field)
    try:
        iban = IBAN(text)
    except SchwiftyException as error:
        detail = str(error).rstrip(".")
        reject(
            field,
            _("{text!r} is not a valid IBAN: {detail}").format(
                text=text, detail=detail[:1].lower() + detail[1:]
            ),
        )
    return str(iban.compact).upper()


def normalize_account_number(value: str, *, field: str = "account_number") -> str:
    """A bank account number: letters, digits and '-', spaces removed, 4-64 characters."""
    text = value.strip()
    _check_csv_safe(text, field)
    text = text.replace(" ", "")
    if not text:
        reject(field, _("is empty"))
    if not _ACCOUNT_RE.fullmatch(text):
        reject(field, _("{text!r} may only contain letters, digits and '-'").format(text=text))
    if not ACCOUNT_MIN <= len(text) <= ACCOUNT_MAX:
        reject(
            field,
            _("must have {ACCOUNT_MIN} to {ACCOUNT_MAX} characters, not {count}").format(
                ACCOUNT_MIN=ACCOUNT_MIN, ACCOUNT_MAX=ACCOUNT_MAX, count=len(text)
            ),
        )
    return text


def compile_id_regex(pattern: str, *, field: str = "validation_regex") -> re.Pattern[str]:
    """The compiled validation regex of an ID type; refuses patterns that do not compile."""
    if len(pattern) > ID_REGEX_MAX:
        reject(
            field,
            _("must have at most {ID_REGEX_MAX} characters").format(ID_REGEX_MAX=ID_REGEX_MAX),
        )
    return _compile(pattern, field)


@lru_cache(maxsize=256)
def _compile(pattern: str, field: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        reject(
            field,
            _("{pattern!r} is not a valid regular expression: {error}").format(
                pattern=pattern, error=error
            ),
        )


def validate_id_value(
    value: str,
    pattern: re.Pattern[str] | str | None,
    *,
    id_type: str,
    field: str = "id_value",
) -> str:
    """The stripped ID value, if it fully matches its type's regex (when the type has one)."""
    text = value.strip()
    if not text:
        reject(field, _("is empty"))
    if len(text) > ID_VALUE_MAX:
        reject(
            field,
            _("must have at most {ID_VALUE_MAX} characters").format(ID_VALUE_MAX=ID_VALUE_MAX),
        )
    _check_csv_safe(text, field)
    if isinstance(pattern, str):
        pattern = compile_id_regex(pattern)
    if pattern is not None and pattern.fullmatch(text) is None:
        reject(
            field,
            _("{text!r} does not match the {id_type} format {pattern}").format(
                text=text, id_type=id_type, pattern=pattern.pattern
            ),
        )
    return text


def normalize_reference(value: str, *, field: str = "reference") -> str:
    """A registrant's external reference: 1-100 letters, digits and ``. _ : / -``."""
    text = value.strip()
    if not text:
        reject(field, _("is required"))
    if len(text) > REFERENCE_MAX:
        reject(
            field,
            _("must have at most {REFERENCE_MAX} characters").format(REFERENCE_MAX=REFERENCE_MAX),
        )
    if not _REFERENCE_RE.fullmatch(text):
        reject(
            field,
            _(
                "{text!r} may only contain letters, digits and . _ : / - (starting "
                "with a letter or digit)"
            ).format(text=text),
        )
    return text


def clean_text(value: str, *, field: str, max_length: int, multiline: bool = False) -> str | None:
    """Stripped free text, None when blank; refuses control characters and overlong values."""
    text = value.strip()
    if not text:
        return None
    if len(text) > max_length:
        reject(
            field,
            _("must have at most {max_length} characters, not {count}").format(
                max_length=max_length, count=len(text)
            ),
        )
    check = text.replace("\n", "").replace("\r", "").replace("\t", "") if multiline else text
    if _CONTROL_RE.search(check):
        reject(field, _("must not contain control characters (tabs, line breaks, ...)"))
    return text


def parse_date(value: str, *, field: str) -> date:
    """An ISO 8601 calendar date (``YYYY-MM-DD``)."""
    text = value.strip()
    try:
        if not _DATE_RE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        reject(field, _("{text!r} is not a date in the form YYYY-MM-DD").format(text=text))


def check_birthdate(birthdate: date, today: date, *, field: str = "birthdate") -> date:
    """A birthdate that is neither in the future nor more than 130 years ago."""
    if birthdate > today:
        reject(field, _("{birthdate} is in the future").format(birthdate=birthdate.isoformat()))
    if today.year - birthdate.year > MAX_AGE_YEARS:
        reject(
            field,
            _("{birthdate} is more than {MAX_AGE_YEARS} years ago").format(
                birthdate=birthdate.isoformat(), MAX_AGE_YEARS=MAX_AGE_YEARS
            ),
        )
    return birthdate


def check_id_expiry(expiry: date, birthdate: date | None, *, field: str = "id_expiry") -> date:
    """An ID expiry date that does not come before the holder's birthdate."""
    if birthdate is not None and expiry <= birthdate:
        reject(
            field,
            _("{expiry} is not after the birthdate {birthdate}").format(
                expiry=expiry.isoformat(), birthdate=birthdate.isoformat()
            ),
        )
    return expiry


def parse_gender(value: str, *, field: str = "gender") -> Gender:
    """``female``, ``male``, ``other`` or ``unknown`` (any case, or the first letter)."""
    text = value.strip().lower()
    gender = _GENDER_ALIASES.get(text)
    if gender is not None:
        return gender
    try:
        return Gender(text)
    except ValueError:
        reject(
            field,
            _("{value!r} is not one of: female, male, other, unknown").format(value=value.strip()),
        )


def parse_kind(value: str, *, field: str = "kind") -> RegistrantKind:
    """``individual`` or ``group`` (any case)."""
    text = value.strip().lower()
    try:
        return RegistrantKind(text)
    except ValueError:
        reject(field, _("{value!r} is not one of: individual, group").format(value=value.strip()))


def normalize_country(value: str, *, field: str = "bank_country") -> str:
    """An ISO 3166 alpha-2 country code, upper-case."""
    text = value.strip().upper()
    if text not in _countries():
        reject(
            field,
            _("{value!r} is not an ISO 3166 country code (e.g. KE, DE)").format(
                value=value.strip()
            ),
        )
    return text


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    territories = Locale("en").territories
    return frozenset(
        code for code in territories if isinstance(code, str) and code.isalpha() and code != "ZZ"
    )


def normalize_bank_code(value: str, *, field: str = "bank_code") -> str:
    """A bank code or BIC: letters, digits and '-', at most 20 characters, upper-case."""
    text = value.strip().upper()
    if not text:
        reject(field, _("is empty"))
    if len(text) > BANK_CODE_MAX or not _BANK_CODE_RE.fullmatch(text):
        reject(
            field,
            _("{value!r} must be 1-{BANK_CODE_MAX} letters, digits or '-'").format(
                value=value.strip(), BANK_CODE_MAX=BANK_CODE_MAX
            ),
        )
    return text
