"""PHEE's ``X-SIGNATURE``: RSA PKCS#1 v1.5 type 1 without DigestInfo over a SHA3-256 hex digest.

Written from the reference README (section "Signature scheme") and checked against
``phee-signature-vectors.json``. Independent of the client's implementation on purpose.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from enum import Enum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .config import TenantKeys

SIGNED_HEADERS = ("X-BatchID", "X-CorrelationID", "Platform-TenantId")


def sha3_hex(text: str) -> str:
    """Lowercase hex SHA3-256 of the UTF-8 text."""
    return hashlib.sha3_256(text.encode("utf-8")).hexdigest()


def signing_string(header_values: list[str | None], payload: str) -> str:
    """Each present header value followed by ``:``, then the payload; no trailing ``:``."""
    text = "".join(f"{value}:" for value in header_values if value is not None) + payload
    if not payload and text.endswith(":"):
        text = text[:-1]
    return text


_B64_VALUES = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")}
_B64_VALUES.update({c: 52 + i for i, c in enumerate(b"0123456789")})
_B64_VALUES.update({ord("+"): 62, ord("/"): 63, ord("-"): 62, ord("_"): 63})


def lenient_b64decode(text: str) -> bytes:
    """commons-codec ``decodeBase64``: both alphabets, stops at ``=``, skips other characters."""
    bits = 0
    nbits = 0
    out = bytearray()
    for char in text.encode("latin-1", errors="replace"):
        if char == ord("="):
            break
        value = _B64_VALUES.get(char)
        if value is None:
            continue
        bits = (bits << 6) | value
        nbits += 6
        if nbits >= 8:
            nbits -= 8
            out.append((bits >> nbits) & 0xFF)
            bits &= (1 << nbits) - 1
    return bytes(out)


def sign_text(private_key: rsa.RSAPrivateKey, text: str) -> str:
    """Base64 ``X-SIGNATURE`` of ``text``: raw RSA over ``00 01 FF..FF 00 || sha3 hex``."""
    digest = sha3_hex(text).encode("ascii")
    size = (private_key.key_size + 7) // 8
    encoded = b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest
    numbers = private_key.private_numbers()
    message = int.from_bytes(encoded, "big")
    m1 = pow(message, numbers.dmp1, numbers.p)
    m2 = pow(message, numbers.dmq1, numbers.q)
    h = (numbers.iqmp * (m1 - m2)) % numbers.p
    signature = m2 + h * numbers.q
    return base64.b64encode(signature.to_bytes(size, "big")).decode("ascii")


class Verdict(Enum):
    """Outcome of a request signature check, mapped to PHEE's two 400 answers."""

    VALID = "valid"
    BAD_KEY = "InvalidPublicKeyConfigured"
    BAD_SIGNATURE = "InvalidJsonWebSignature"


def verify_text(public_key: rsa.RSAPublicKey | None, text: str, signature: str | None) -> Verdict:
    """Check ``signature`` over ``text`` the way PHEE's interceptor does."""
    if public_key is None or signature is None:
        return Verdict.BAD_KEY
    raw = lenient_b64decode(signature)
    size = (public_key.key_size + 7) // 8
    if not raw or len(raw) > size:
        return Verdict.BAD_KEY
    try:
        recovered = public_key.recover_data_from_signature(
            raw.rjust(size, b"\x00"), padding.PKCS1v15(), None
        )
    except (InvalidSignature, ValueError):
        return Verdict.BAD_KEY
    return Verdict.VALID if recovered == sha3_hex(text).encode("ascii") else Verdict.BAD_SIGNATURE


@dataclass(frozen=True)
class LoadedKeys:
    """One tenant's parsed keys plus the text PHEE echoes in ``developerMessage``."""

    public_key: rsa.RSAPublicKey | None
    private_key: rsa.RSAPrivateKey | None
    certificate_text: str


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """A public key from a PEM certificate/public key or base64 DER of either."""
    data = text.strip().encode("ascii")
    key: object
    if data.startswith(b"-----BEGIN CERTIFICATE"):
        key = x509.load_pem_x509_certificate(data).public_key()
    elif data.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(data)
    else:
        der = base64.b64decode(b"".join(data.split()))
        try:
            key = x509.load_der_x509_certificate(der).public_key()
        except ValueError:
            key = serialization.load_der_public_key(der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("only RSA keys are supported")
    return key


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """A private key from PEM (PKCS#8 or PKCS#1) or PHEE's base64 PKCS#8 DER."""
    data = text.strip().encode("ascii")
    if data.startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(data, password=None)
    else:
        key = serialization.load_der_private_key(base64.b64decode(b"".join(data.split())), None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("only RSA keys are supported")
    return key


def load_tenant_keys(keys: TenantKeys) -> LoadedKeys:
    """Parse a :class:`TenantKeys`; the public key comes from the certificate when given."""
    public_text = keys.certificate or keys.public_key
    public = load_public_key(public_text) if public_text else None
    private = load_private_key(keys.private_key) if keys.private_key else None
    if public is None and private is not None:
        public = private.public_key()
    return LoadedKeys(public, private, _one_line(public_text or ""))


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if not line.startswith("-----")]
    return "".join(lines)


class KeyRing:
    """Keys per tenant, looked up case-insensitively with a ``default`` fallback."""

    def __init__(self, keys: dict[str, TenantKeys]) -> None:
        self._keys = {name.lower(): load_tenant_keys(value) for name, value in keys.items()}

    def for_tenant(self, tenant: str | None) -> LoadedKeys | None:
        """The tenant's keys, else the ``default`` keys, else None."""
        if tenant is not None and tenant.lower() in self._keys:
            return self._keys[tenant.lower()]
        return self._keys.get("default")


def validate_keys(keys: dict[str, TenantKeys]) -> None:
    """Raise ``ValueError`` naming the tenant whose key text cannot be parsed."""
    for name, value in keys.items():
        try:
            load_tenant_keys(value)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise ValueError(f"jws.keys.{name}: {exc}") from exc
