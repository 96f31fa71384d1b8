"""Realistic, reproducible registrant files for demos, benchmarks and tests.

Every row imports cleanly.  Most rows are complete (National ID, Kenyan mobile number, email and
a bank account, some with a German, British or French IBAN); a chosen share of rows carry no
payment identifier at all (no phone, email, ID or bank account), so that a later payment
preparation has registrants to report as unpayable.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta

from schwifty import IBAN

NATIONAL_ID = "National ID"
NATIONAL_ID_REGEX = r"[0-9]{8}"
SAMPLE_COLUMNS = (
    "reference",
    "kind",
    "name",
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "address",
    "email",
    "phone",
    "id_type",
    "id_value",
    "id_expiry",
    "bank_name",
    "bank_code",
    "bank_country",
    "account_number",
    "iban",
)

_FEMALE = ("Achieng", "Wanjiru", "Njeri", "Akinyi", "Chebet", "Nafula", "Amina", "Faith", "Grace")
_MALE = ("Otieno", "Kamau", "Mwangi", "Kiprono", "Omondi", "Wafula", "Hassan", "Brian", "Peter")
_FAMILY = ("Odhiambo", "Mutua", "Kariuki", "Wekesa", "Ochieng", "Njoroge", "Barasa", "Koech")
_TOWNS = ("Nairobi", "Kisumu", "Mombasa", "Eldoret", "Nakuru", "Garissa", "Kitale", "Machakos")
_MOBILE_PREFIXES = ("70", "71", "72", "74", "79")
_LOCAL_BANKS = (("Equity Bank", "EQBLKENA"), ("KCB Bank", "KCBLKENX"), ("Co-op Bank", "KCOOKENA"))
# (country, bank name, BIC, national bank code, account number length)
_IBAN_BANKS = (
    ("DE", "Commerzbank", "COBADEFFXXX", "37040044", 10),
    ("GB", "NatWest", "NWBKGB2LXXX", "NWBK601613", 8),
    ("FR", "Credit Agricole", "AGRIFRPPXXX", "3000600001", 11),
)
IBAN_SHARE = 0.2


def generate_registrants_csv(
    n: int, seed: int, invalid_share: float = 0.0, *, reference_prefix: str = "BEN-"
) -> bytes:
    """``n`` individuals as an import CSV (UTF-8, header first), the same for the same seed.

    ``invalid_share`` (0-1) of the rows have no payment identifier (see the module docstring);
    they are still valid registrants.
    """
    if not 0.0 <= invalid_share <= 1.0:
        raise ValueError("invalid_share must be between 0 and 1")
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SAMPLE_COLUMNS)
    for index in range(n):
        payable = rng.random() >= invalid_share
        writer.writerow(_row(rng, index, f"{reference_prefix}{index + 1:07d}", payable))
    return buffer.getvalue().encode("utf-8")


def _row(rng: random.Random, index: int, reference: str, payable: bool) -> list[str]:
    female = rng.random() < 0.5
    given = rng.choice(_FEMALE if female else _MALE)
    family = rng.choice(_FAMILY)
    birthdate = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65))
    town = rng.choice(_TOWNS)
    person = [
        reference,
        "individual",
        f"{given} {family}",
        given,
        family,
        birthdate.isoformat(),
        "female" if female else "male",
        f"P.O. Box {rng.randrange(1, 99999)}, {town}",
    ]
    if not payable:
        return [*person, *[""] * (len(SAMPLE_COLUMNS) - len(person))]
    expiry = date(2027, 1, 1) + timedelta(days=rng.randrange(365 * 8))
    return [
        *person,
        f"{given}.{family}{index}@example.org".lower(),
        _phone(rng, index),
        NATIONAL_ID,
        f"{10_000_000 + index % 90_000_000}",
        expiry.isoformat(),
        *_bank_account(rng, index),
    ]


def _phone(rng: random.Random, index: int) -> str:
    prefix = rng.choice(_MOBILE_PREFIXES)
    digits = f"{index % 10_000_000:07d}"
    if rng.random() < 0.3:
        return f"+254 {prefix}{digits[0]} {digits[1:4]} {digits[4:]}"
    return f"+254{prefix}{digits}"


def _bank_account(rng: random.Random, index: int) -> list[str]:
    if rng.random() < IBAN_SHARE:
        country, name, bic, bank_code, length = rng.choice(_IBAN_BANKS)
        account = f"{index:0{length}d}"[-length:]
        iban = IBAN.generate(country, bank_code=bank_code, account_code=account)
        return [name, bic, country, account, str(iban.compact)]
    name, code = rng.choice(_LOCAL_BANKS)
    return [name, code, "KE", f"01{index:010d}", ""]
