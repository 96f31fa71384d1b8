"""The ``signature`` of a request, checked against the sender's ed25519 public key.

The spec gives the field's shape but no canonical form; ours (docs/g2p-connect.md):

    Signature: namespace="g2p", kidId="{sender_id}|{key id}|ed25519", algorithm="ed25519",
      created="<unix>", expires="<unix>", headers="(created) (expires) digest",
      signature="<base64 of the ed25519 signature of the signing string>"

    signing string = "(created): <created>\\n(expires): <expires>\\ndigest: SHA-256=<b64>"

where ``<b64>`` is the base64 SHA-256 of the UTF-8 compact JSON of ``{"header": …, "message":
…}`` with sorted keys (``json.dumps(..., sort_keys=True, separators=(",", ":"),
ensure_ascii=False)``). ``created`` may be at most ``CLOCK_SKEW`` ahead, ``expires`` must not
have passed. ``sign`` makes such a field (the MIS stand-in and the tests use it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from g2p_payment_phee.g2p_connect.envelope import Refused

CLOCK_SKEW = 300
_PARAM = re.compile(r'([A-Za-z]+)="([^"]*)"')


def canonical(header: dict[str, Any], message: Any) -> bytes:
    """The bytes the digest covers."""
    body = {"header": header, "message": message}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def _signing_string(created: str, expires: str, header: dict[str, Any], message: Any) -> bytes:
    digest = base64.b64encode(hashlib.sha256(canonical(header, message)).digest()).decode()
    return f"(created): {created}\n(expires): {expires}\ndigest: SHA-256={digest}".encode()


def load_public_key(pem: str) -> Ed25519PublicKey:
    """An ed25519 public key from PEM; ValueError when it is not one."""
    try:
        key = load_pem_public_key(pem.encode("ascii"))
    except UnsupportedAlgorithm:
        raise ValueError("the public key's algorithm is not supported") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an ed25519 key")
    return key


def sign(
    private_key: Ed25519PrivateKey,
    sender_id: str,
    header: dict[str, Any],
    message: Any,
    *,
    key_id: str = "1",
    lifetime: int = 600,
) -> str:
    """The ``signature`` field for a request (see the module)."""
    created = str(int(time.time()))
    expires = str(int(created) + lifetime)
    raw = private_key.sign(_signing_string(created, expires, header, message))
    return (
        f'Signature: namespace="g2p", kidId="{sender_id}|{key_id}|ed25519", '
        f'algorithm="ed25519", created="{created}", expires="{expires}", '
        f'headers="(created) (expires) digest", signature="{base64.b64encode(raw).decode()}"'
    )


def verify(pem: str, signature: str | None, header: dict[str, Any], message: Any) -> None:
    """Nothing when ``signature`` is valid; Refused with ``err.signature.*`` otherwise."""
    if signature is None:
        raise Refused("err.signature.missing", "the sender signs its requests: no signature")
    params = dict(_PARAM.findall(signature))
    created, expires = params.get("created", ""), params.get("expires", "")
    if not (created.isdigit() and expires.isdigit() and "signature" in params):
        raise Refused("err.signature.invalid", "the signature lacks created, expires or signature")
    now = int(time.time())
    if int(created) > now + CLOCK_SKEW or int(expires) < now:
        raise Refused("err.signature.invalid", "the signature is not valid at this time")
    if params.get("algorithm", "ed25519").lower() != "ed25519":
        raise Refused("err.signature.invalid", "the signature must be ed25519")
    try:
        raw = base64.b64decode(params["signature"], validate=True)
        load_public_key(pem).verify(raw, _signing_string(created, expires, header, message))
    except (InvalidSignature, binascii.Error, ValueError):
        raise Refused("err.signature.invalid", "the signature does not match") from None
