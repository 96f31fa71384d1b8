"""PHEE's ``X-SIGNATURE`` (SPEC 5.2, reference README "Signature scheme").

The hub checks a request by recovering, with the tenant's public key, the lowercase hex SHA3-256
of ``"<X-CorrelationID>:<Platform-TenantId>:<payload>"`` (no trailing ``:`` for an empty
payload).  The "signature" is Java's ``Cipher("RSA")`` used with the private key: PKCS#1 v1.5
*type 1* padding over the 64 ASCII hex characters, **without** a DigestInfo, which no high-level
``cryptography`` API produces.  We build the encoded block ourselves and apply the raw RSA
private operation; the result is deterministic and matches every reference vector bit for bit.

For a multipart upload the payload is the CSV text as the server rebuilds it
(:func:`normalise_csv_payload`), not the raw file.
"""

from __future__ import annotations

import base64
import hashlib
import re

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

__all__ = ["RequestSigner", "normalise_csv_payload", "sign", "signing_string"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Java's String.trim() removes code points U+0000..U+0020 and nothing else.
_JAVA_TRIM = "".join(map(chr, range(33)))


def signing_string(correlation_id: str, tenant: str, payload: str) -> str:
    """``corrId:tenant:payload``; with an empty payload the last ``:`` is dropped."""
    head = f"{correlation_id}:{tenant}"
    return f"{head}:{payload}" if payload else head


def normalise_csv_payload(text: str) -> str:
    """The file text as PHEE rebuilds it from the multipart part.

    Lines end at CR, LF or CRLF (only those: not ``str.splitlines``' other breaks); content
    stops at the first empty line; lines are joined with ``\\n`` and Java-trimmed.
    """
    kept: list[str] = []
    for line in _LINE_BREAK.split(text):
        if line == "":
            break
        kept.append(line)
    return "\n".join(kept).strip(_JAVA_TRIM)


class RequestSigner:
    """Signs PHEE requests with one RSA private key (loaded once, reused for every batch)."""

    def __init__(self, private_key_pem: str) -> None:
        key = load_pem_private_key(private_key_pem.encode("ascii"), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise TypeError("PHEE signatures need an RSA private key")
        numbers = key.private_numbers()
        self._p, self._q = numbers.p, numbers.q
        self._dmp1, self._dmq1, self._iqmp = numbers.dmp1, numbers.dmq1, numbers.iqmp
        self._n = numbers.public_numbers.n
        self._size = (self._n.bit_length() + 7) // 8

    def __repr__(self) -> str:
        return f"RequestSigner(<RSA-{self._n.bit_length()} key hidden>)"

    def sign(self, correlation_id: str, tenant: str, payload: str) -> str:
        """The request's ``X-SIGNATURE`` value (standard, padded, one-line base64)."""
        return self.sign_text(signing_string(correlation_id, tenant, payload))

    def sign_text(self, text: str) -> str:
        """The signature over ``text`` itself (PHEE signs a response body this way)."""
        digest = hashlib.sha3_256(text.encode("utf-8")).hexdigest().encode("ascii")
        return base64.b64encode(self._private_op(self._type1_block(digest))).decode("ascii")

    def _type1_block(self, data: bytes) -> bytes:
        """``00 01 FF..FF 00 || data`` filling the modulus length (RFC 8017 EMSA-PKCS1-v1_5)."""
        padding = self._size - len(data) - 3
        if padding < 8:
            raise ValueError("RSA key too small for a PKCS#1 v1.5 block")
        return b"\x00\x01" + b"\xff" * padding + b"\x00" + data

    def _private_op(self, block: bytes) -> bytes:
        """Raw RSA ``m^d mod n`` via the CRT (about 3x faster than one ``pow``)."""
        m = int.from_bytes(block, "big")
        m1 = pow(m, self._dmp1, self._p)
        m2 = pow(m, self._dmq1, self._q)
        h = (self._iqmp * (m1 - m2)) % self._p
        return (m2 + h * self._q).to_bytes(self._size, "big")


def sign(private_key_pem: str, correlation_id: str, tenant: str, payload: str) -> str:
    """One-off ``X-SIGNATURE``; reuse a :class:`RequestSigner` to sign many batches."""
    return RequestSigner(private_key_pem).sign(correlation_id, tenant, payload)
