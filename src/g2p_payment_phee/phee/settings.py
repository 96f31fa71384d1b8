"""The PHEE manager's settings (SPEC 3.1): every field, its default, its validation.

Defaults work against a real PHEE (and the bundled emulator): ``create_batch`` on, ``Type: csv``,
integer amounts, TLS verification on. Secrets live apart in ``PheeSecrets`` and are stored
encrypted; nothing ever shows them back.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from string import Formatter
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import AmountFormat
from g2p_payment_phee.payments.payee_rules import (
    PayeeDfspIdType,
    PayeeIdField,
    PayeeIdTypeRewritten,
)
from g2p_payment_phee.payments.payees import CSV_UNSAFE, PayeeOption
from g2p_payment_phee.payments.prepare import CreateBatch

EMULATOR_BASE_URL = "http://127.0.0.1:8080"
PHEE_MAX_FILE_BYTES = 100_000
NOTE_TEMPLATE = "Program: {program}. Cycle ID - {cycle}"
NOTE_FIELDS = frozenset({"program", "cycle"})
_HEADER_SAFE = re.compile(r"^[^\r\n]*$")
_PREFIX_SAFE = re.compile(r"^[A-Za-z0-9_.-]{0,50}$")


class MsisdnFormat(StrEnum):
    """How a phone payee is written in the PHEE file (SPEC 3.1).

    ``digits``: E.164 without the ``+`` (``254712000101``), as in PHEE's own fixtures and the
    mobile-money connectors behind it. ``e164``: with the ``+`` (``+254712000101``), what
    managers configured before this setting existed keep writing (migration 0011).
    """

    DIGITS = "digits"
    E164 = "e164"

    @property
    def label(self) -> str:
        """This choice for people."""
        return _("Digits only") if self is MsisdnFormat.DIGITS else _("E.164 with +")


def note_template_parts(template: str) -> list[tuple[str, str | None]]:
    """The template as (literal text, field) pairs; only ``{program}`` and ``{cycle}`` allowed.

    ``str.format`` would follow ``{program.__doc__}`` or ``{cycle[0]}`` and apply any format
    spec, so the template is parsed and checked here and rendered by plain substitution
    (``phee.csvfile.render_note``): no attribute access, indexing, conversion or format spec.
    ``{{`` and ``}}`` stay available for literal braces.
    """
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as error:
        raise ValueError(_("is not a valid template ({error})").format(error=error)) from None
    parts: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parsed:
        if field is not None and (field not in NOTE_FIELDS or spec or conversion):
            shown = "{" + field + (f"!{conversion}" if conversion else "")
            shown += (f":{spec}" if spec else "") + "}"
            raise ValueError(
                _("may use only {{program}} and {{cycle}}, not {shown}").format(shown=shown)
            )
        parts.append((literal, field))
    return parts


def check_url(value: str | None, *, required: bool) -> str | None:
    """A hub URL as stored (no trailing slash); ValueError saying what is wrong with it."""
    if not value:
        if required:
            raise ValueError(_("a URL is required"))
        return None
    if not value.isascii() or any(ch.isspace() for ch in value):
        raise ValueError(_("the URL must be plain ASCII without spaces (IDNA-encode the host)"))
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(_("{value!r} is not an http(s) URL").format(value=value))
    if parts.query or parts.fragment:
        raise ValueError(_("the URL must not carry a query or fragment"))
    return value.rstrip("/")


def check_csv_safe(value: str) -> str:
    """A value written into a CSV cell as it is; ValueError if it would break the row."""
    if CSV_UNSAFE.search(value):
        raise ValueError(_("must not contain a comma, a double quote or a line break"))
    return value


def check_header_safe(value: str) -> str:
    """A value sent as an HTTP header; ValueError if it holds a line break."""
    if not _HEADER_SAFE.match(value):
        raise ValueError(_("must not contain a line break (it is sent as an HTTP header)"))
    return value


class PheeSettings(BaseModel):
    """The non-secret settings of one program's PHEE manager."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[
        str, Field(min_length=1, max_length=200, title="Name", description="Shown in lists")
    ] = "Payment Hub EE"
    create_batch: CreateBatch = True
    max_batch_size: Annotated[
        int,
        Field(
            ge=1, le=100_000, title="Max Batch Size", description="Payments per batch, at least 1"
        ),
    ] = 500
    max_file_bytes: Annotated[
        int,
        Field(
            ge=1_000,
            le=PHEE_MAX_FILE_BYTES,
            title="Max File Size (bytes)",
            description="PHEE refuses files over 100,000 bytes; batches are split earlier",
        ),
    ] = PHEE_MAX_FILE_BYTES
    auth_endpoint_url: Annotated[
        str | None,
        Field(
            title="Authentication Endpoint URL",
            description="PHEE operations app /oauth/token; empty sends no bearer token",
        ),
    ] = f"{EMULATOR_BASE_URL}/oauth/token"
    payment_endpoint_url: Annotated[
        str, Field(title="Payment Endpoint URL", description="Bulk processor /batchtransactions")
    ] = f"{EMULATOR_BASE_URL}/batchtransactions"
    status_endpoint_url: Annotated[
        str,
        Field(title="Status Endpoint URL", description="Batch summary: GET <url>/<PHEE batch id>"),
    ] = f"{EMULATOR_BASE_URL}/api/v1/batch"
    details_endpoint_url: Annotated[
        str, Field(title="Details Endpoint URL", description="Per-transfer status, paged")
    ] = f"{EMULATOR_BASE_URL}/api/v1/batch/detail"
    tenant_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100,
            title="Tenant ID",
            description="Platform-TenantId on every request",
        ),
    ]
    username: Annotated[str, Field(title="Username", description="User of the token request")] = ""
    grant_type: Annotated[
        str, Field(title="Grant Type", description="grant_type of the token request")
    ] = "password"
    payment_mode: Annotated[
        str,
        Field(
            min_length=1,
            max_length=50,
            title="Payment Mode",
            description="One mode per batch (e.g. mojaloop)",
        ),
    ] = "mojaloop"
    payer_id_type: Annotated[
        str, Field(title="Payer ID Type", description="How the hub identifies the payer")
    ] = ""
    payer_id: Annotated[str, Field(title="Payer ID", description="The payer's identifier")] = ""
    payee_id_type: PayeeIdField
    reg_id_type_for_payee_id: PayeeDfspIdType = None
    payee_id_type_to_send: PayeeIdTypeRewritten = ""
    msisdn_format: Annotated[
        MsisdnFormat,
        Field(
            title="Phone Number Format",
            description="Phones as digits only (what PHEE's connectors read) or E.164 with +",
        ),
    ] = MsisdnFormat.DIGITS
    batch_type_header: Annotated[
        str, Field(title="Batch Transaction Type Header", description="PHEE accepts only csv")
    ] = "csv"
    batch_purpose_header: Annotated[
        str,
        Field(
            title="Batch Transaction Purpose Header",
            description="Purpose header of every batch request",
        ),
    ] = "G2P Payment"
    file_name_prefix: Annotated[
        str, Field(title="Filename Prefix", description="File name is <prefix><batch name>.csv")
    ] = "ph_ee_"
    batch_request_timeout: Annotated[
        float, Field(gt=0, le=600, title="Batch Request Timeout", description="Seconds")
    ] = 10.0
    make_csv_at_prepare: Annotated[
        bool,
        Field(
            title="Make CSV At Prepare",
            description="When off, the CSV is rendered (and stored) at send time",
        ),
    ] = True
    callback_base_url: Annotated[
        str | None,
        Field(title="Callback Base URL", description="When set, X-CallbackURL is sent"),
    ] = None
    registering_institution_id: Annotated[
        str,
        Field(
            title="Registering Institution ID",
            description="X-Registering-Institution-ID, when set",
        ),
    ] = ""
    program_id_header: Annotated[
        str, Field(title="Program ID Header", description="X-Program-ID, when set")
    ] = ""
    verify_tls: Annotated[
        bool,
        Field(
            title="Verify TLS",
            description="Keep on; give a CA file for a self-signed hub certificate",
        ),
    ] = True
    ca_bundle: Annotated[
        str | None, Field(title="CA Bundle", description="Path of a CA file on the server")
    ] = None
    amount_format: Annotated[
        AmountFormat, Field(title="Amount Format", description="PHEE parses amounts as integers")
    ] = AmountFormat.INTEGER
    note_template: Annotated[
        str, Field(title="Note Template", description="May use {program} and {cycle}")
    ] = NOTE_TEMPLATE

    @field_validator("auth_endpoint_url", "callback_base_url")
    @classmethod
    def _optional_url(cls, value: str | None) -> str | None:
        return check_url(value, required=False)

    @field_validator("payment_endpoint_url", "status_endpoint_url", "details_endpoint_url")
    @classmethod
    def _required_url(cls, value: str) -> str:
        return str(check_url(value, required=True))

    @field_validator("payment_mode", "payer_id_type", "payer_id", "payee_id_type_to_send")
    @classmethod
    def _csv_safe(cls, value: str) -> str:
        return check_csv_safe(value)

    @field_validator(
        "tenant_id", "batch_purpose_header", "registering_institution_id", "program_id_header"
    )
    @classmethod
    def _header_safe(cls, value: str) -> str:
        return check_header_safe(value)

    @field_validator("batch_type_header")
    @classmethod
    def _type_is_csv(cls, value: str) -> str:
        if value.lower() != "csv":
            raise ValueError(
                _("PHEE accepts only 'csv' for a file upload (it refuses anything else)")
            )
        return value

    @field_validator("file_name_prefix")
    @classmethod
    def _prefix_safe(cls, value: str) -> str:
        if not _PREFIX_SAFE.match(value):
            raise ValueError(_("up to 50 of A-Z, a-z, 0-9, '_', '.', '-'"))
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _ca_exists(cls, value: str | None) -> str | None:
        if value and not Path(value).is_file():
            raise ValueError(_("CA bundle {value} is not a readable file").format(value=value))
        return value or None

    @field_validator("note_template")
    @classmethod
    def _template_fields(cls, value: str) -> str:
        note_template_parts(value)
        return value

    @model_validator(mode="after")
    def _reg_id_needs_type(self) -> PheeSettings:
        if self.payee_id_type is PayeeOption.REGISTRANT_ID and not self.reg_id_type_for_payee_id:
            raise ValueError(
                _(
                    "reg_id_type_for_payee_id is required when payee_id_type is reg_id "
                    "(which registrant ID pays?)"
                )
            )
        return self


class PheeSecrets(BaseModel):
    """Secrets of the manager; stored encrypted, never returned."""

    model_config = ConfigDict(extra="forbid")

    password: Annotated[
        str | None, Field(title="Password", description="Password of the token request")
    ] = None
    authorization: Annotated[
        str | None,
        Field(
            title="Authorization",
            description="Authorization header of the token request (Basic …)",
        ),
    ] = None
    signing_private_key: Annotated[
        str | None,
        Field(
            title="Signing Private Key",
            description="RSA private key (PEM); when set, X-SIGNATURE is sent",
        ),
    ] = None

    @field_validator("authorization")
    @classmethod
    def _header_value(cls, value: str | None) -> str | None:
        if value and not _HEADER_SAFE.match(value):
            raise ValueError(_("must not contain a line break (it is sent as an HTTP header)"))
        return value

    @field_validator("signing_private_key")
    @classmethod
    def _rsa_key(cls, value: str | None) -> str | None:
        if not value:
            return value
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(value.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError):
            raise ValueError(_("not a PEM private key without a passphrase")) from None
        if not isinstance(key, RSAPrivateKey):
            raise ValueError(_("PHEE signatures need an RSA key"))
        return value
