"""``POST /batchtransactions`` checks, in PHEE's evaluation order (phee-api.md 3.5).

1. X-SIGNATURE (when verification is on); 2. required headers (500); 3. controller checks on
Type / Content-Type / filename (400 "File not uploaded", or 500 for a missing filename);
4. file checks: extension, 100,000 bytes, header columns (400 with PHEE's odd keys);
5. the tenant's workflow must exist (412).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import bodies
from .config import EmulatorConfig
from .csvfile import (
    RawBodyError,
    boundary_of,
    header_is_valid,
    normalise_multipart,
    raw_json_to_csv,
)
from .processing import Intake
from .signature import SIGNED_HEADERS, KeyRing, Verdict, signing_string, verify_text

REQUIRED_HEADERS = ("X-CorrelationID", "purpose", "Type", "Platform-TenantId")
_NPE_CONTENT_TYPE = 'Cannot invoke "String.startsWith(String)" because "contentType" is null'
_NPE_FILENAME = 'Cannot invoke "String.isEmpty()" because "fileName" is null'


@dataclass(frozen=True)
class Rejection:
    """A PHEE error answer."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Upload:
    """The raw request, as read by the route (header names looked up in lower case)."""

    headers: Mapping[str, str]
    body: bytes
    truncated: bool

    @property
    def content_type(self) -> str | None:
        """The Content-Type header, if any."""
        return self.headers.get("content-type")

    @property
    def multipart(self) -> bool:
        """True for a multipart/form-data request."""
        return "multipart/form-data" in (self.content_type or "").lower()

    def payload(self) -> str:
        """What PHEE signs and saves: the rebuilt file for multipart, else the raw body."""
        text = self.body.decode("utf-8", errors="replace")
        if self.multipart:
            return normalise_multipart(text, boundary_of(self.content_type or ""))
        return text


def signature_rejection(
    keyring: KeyRing, headers: Mapping[str, str], payload: str
) -> Rejection | None:
    """PHEE's JWS interceptor: None when the signature verifies."""
    tenant = headers.get("platform-tenantid")
    keys = keyring.for_tenant(tenant)
    text = signing_string([headers.get(name.lower()) for name in SIGNED_HEADERS], payload)
    signature = headers.get("x-signature")
    verdict = verify_text(keys.public_key if keys else None, text, signature)
    if verdict is Verdict.VALID:
        return None
    if verdict is Verdict.BAD_SIGNATURE:
        return Rejection(400, bodies.invalid_signature(signature or ""))
    return Rejection(400, bodies.invalid_public_key(keys.certificate_text if keys else ""))


def check_upload(
    upload: Upload, config: EmulatorConfig, keyring: KeyRing
) -> Rejection | tuple[Intake, str]:
    """Run every check; on success return the intake and the normalised CSV text."""
    if upload.truncated:
        too_big = bodies.FILE_NOT_UPLOADED if upload.multipart else bodies.FILE_TOO_BIG
        return Rejection(400, too_big)
    payload = upload.payload()
    if config.jws.verify_requests:
        rejection = signature_rejection(keyring, upload.headers, payload)
        if rejection is not None:
            return rejection
    for name in REQUIRED_HEADERS:
        if upload.headers.get(name.lower()) is None:
            return Rejection(500, bodies.missing_header(name))
    if upload.content_type is None:
        return Rejection(500, bodies.server_error(_NPE_CONTENT_TYPE))
    file = _file_of(upload, payload, config)
    if isinstance(file, Rejection):
        return file
    file_name, csv_text = file
    rejection = _file_checks(csv_text, config)
    if rejection is not None:
        return rejection
    headers = upload.headers
    tenant = headers["platform-tenantid"]
    if tenant not in config.tenants:
        return Rejection(412, bodies.PROCESS_DEFINITION_NOT_FOUND)
    intake = Intake(
        tenant=tenant,
        correlation_id=headers["x-correlationid"],
        purpose=headers["purpose"],
        file_name=file_name,
        callback_url=headers.get("x-callbackurl") or None,
        registering_institution_id=headers.get("x-registering-institution-id") or None,
        program_id=headers.get("x-program-id") or None,
    )
    return intake, csv_text


def _file_of(upload: Upload, payload: str, config: EmulatorConfig) -> Rejection | tuple[str, str]:
    kind = upload.headers["type"].lower()
    if kind != ("csv" if upload.multipart else "raw"):
        return Rejection(400, bodies.FILE_NOT_UPLOADED)
    if not upload.multipart:
        try:
            return f"{uuid.uuid4()}.csv", raw_json_to_csv(payload)
        except RawBodyError as exc:
            return Rejection(500, bodies.server_error(str(exc)))
    file_name = upload.headers.get("filename")
    if file_name is None:
        return Rejection(500, bodies.server_error(_NPE_FILENAME))
    if file_name == "" or len(upload.body) > config.processing.max_multipart_bytes:
        return Rejection(400, bodies.FILE_NOT_UPLOADED)
    if not file_name.lower().endswith(".csv"):
        return Rejection(400, bodies.BROKEN_FILE)
    return file_name, payload


def _file_checks(csv_text: str, config: EmulatorConfig) -> Rejection | None:
    if len(csv_text.encode("utf-8")) > config.processing.max_file_bytes:
        return Rejection(400, bodies.FILE_TOO_BIG)
    if not header_is_valid(csv_text):
        return Rejection(400, bodies.INVALID_FILE_STRUCTURE)
    return None
