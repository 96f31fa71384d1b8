"""Bearer tokens for senders: ``POST /g2p-connect/oauth2/client/token`` hands them out.

A token is a JWT signed HS256 with a key derived from the product's secret key (so it survives
restarts and is shared by every process), naming the sender (``sub``), the scopes granted and
an expiry. The database is asked on every use anyway (the sender must still be enabled).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.ids import new_id

TOKEN_LIFETIME = timedelta(hours=1)
ISSUER = "g2p-payment-phee"
AUDIENCE = "g2p-connect"
ALGORITHM = "HS256"
DISBURSE = "disburse"
STATUS = "disburse.txn.status"
SEARCH = "disburse.search"
SCOPES = (DISBURSE, STATUS, SEARCH)


@dataclass(frozen=True)
class Grant:
    """A verified token: whose, what it allows, until when."""

    sender_id: str
    scopes: frozenset[str]
    expires_at: datetime


class BadToken(Exception):
    """The bearer token is missing, malformed, forged or expired (``code``: the answer's)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@lru_cache(maxsize=4)
def _key(secret_key: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"g2p-connect bearer tokens"
    ).derive(secret_key.encode("utf-8"))


def granted_scopes(requested: str | None) -> tuple[str, ...]:
    """The scopes asked for that exist; all of them when none is asked for or known
    (senders name scopes differently: OAuth lets us grant other than asked, and we say so)."""
    asked = set((requested or "").replace(",", " ").split())
    known = tuple(scope for scope in SCOPES if scope in asked)
    return known or SCOPES


def issue(secret_key: str, sender_id: str, scopes: tuple[str, ...]) -> tuple[str, int]:
    """A signed token for the sender and its lifetime in seconds."""
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sender_id,
        "scope": " ".join(scopes),
        "iat": int(now.timestamp()),
        "exp": int((now + TOKEN_LIFETIME).timestamp()),
        "jti": base64.urlsafe_b64encode(new_id().bytes).decode("ascii").rstrip("="),
    }
    token = jwt.encode(claims, _key(secret_key), algorithm=ALGORITHM)
    return token, int(TOKEN_LIFETIME.total_seconds())


def verify(secret_key: str, authorization: str | None) -> Grant:
    """The grant of ``Authorization: Bearer <token>`` (0.1's ``x-access-token`` scheme too)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() not in ("bearer", "x-access-token") or not token.strip():
        raise BadToken("err.request.unauthorized", "send 'Authorization: Bearer <token>'")
    try:
        claims = jwt.decode(
            token.strip(),
            _key(secret_key),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise BadToken("err.request.unauthorized", "the token has expired") from None
    except jwt.PyJWTError:
        raise BadToken("err.request.unauthorized", "the token is not valid") from None
    scopes = frozenset(str(claims.get("scope", "")).split())
    expires = datetime.fromtimestamp(int(claims["exp"]), tz=utcnow().tzinfo)
    return Grant(str(claims["sub"]), scopes, expires)
