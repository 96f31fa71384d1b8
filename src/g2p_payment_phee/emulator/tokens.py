"""OAuth2 password / client-credentials tokens shaped like the operations app's JWTs.

PHEE signs RS256 JWTs; the emulator signs HS256 with a per-instance secret (kept in SQLite when
configured), which is indistinguishable for a client that treats tokens as opaque. Expiry uses
the emulator clock, so tests expire tokens by advancing the clock instead of sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

AUTHORITIES = ["ALL_FUNCTIONS", "ALL_FUNCTIONS_READ", "ALL_FUNCTIONS_WRITE"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenCheck(Enum):
    """Result of checking a bearer token for a tenant."""

    VALID = "valid"
    INVALID = "invalid"
    EXPIRED = "expired"
    WRONG_TENANT = "wrong_tenant"


@dataclass(frozen=True)
class Grant:
    """Who a token is for."""

    tenant: str
    client_id: str
    user_name: str | None


class TokenService:
    """Issues and checks access and refresh tokens."""

    def __init__(self, secret: bytes, now: Callable[[], float]) -> None:
        self._secret = secret
        self._now = now
        self._revoked_before = 0.0

    @staticmethod
    def new_secret() -> bytes:
        """A fresh signing secret."""
        return secrets.token_bytes(32)

    def revoke_all(self) -> None:
        """Expire every token issued until now (fault: the hub forgets its tokens)."""
        self._revoked_before = self._now()

    def forget_revocation(self) -> None:
        """Undo :meth:`revoke_all` (used when the clock is reset)."""
        self._revoked_before = 0.0

    def _encode(self, claims: dict[str, Any]) -> str:
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64url(signature)}"

    def _decode(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
        try:
            if not hmac.compare_digest(_b64url(expected.digest()), parts[2]):
                return None
            claims = json.loads(_b64url_decode(parts[1]))
        except (ValueError, UnicodeDecodeError):
            return None
        return claims if isinstance(claims, dict) else None

    def issue(self, grant: Grant, ttl: int, refresh_ttl: int) -> dict[str, Any]:
        """The token response body of Spring Security OAuth2."""
        now = self._now()
        jti = str(uuid.uuid4())
        claims: dict[str, Any] = {
            "aud": ["identity-provider", grant.tenant],
            "scope": ["identity"],
            "exp": int(now + ttl),
            "iat": now,
            "authorities": AUTHORITIES,
            "jti": jti,
            "client_id": grant.client_id,
        }
        if grant.user_name is not None:
            claims["user_name"] = grant.user_name
        body: dict[str, Any] = {
            "access_token": self._encode(claims),
            "token_type": "bearer",
        }
        if grant.user_name is not None:
            refresh = {
                **claims,
                "ati": jti,
                "exp": int(now + refresh_ttl),
                "jti": str(uuid.uuid4()),
            }
            body["refresh_token"] = self._encode(refresh)
        body.update({"expires_in": max(ttl - 1, 0), "scope": "identity", "jti": jti})
        return body

    def check(self, token: str, tenant: str, *, refresh: bool = False) -> TokenCheck:
        """Validate signature, kind, expiry, revocation and audience."""
        claims = self._decode(token)
        if claims is None or ("ati" in claims) != refresh:
            return TokenCheck.INVALID
        now = self._now()
        if now >= float(claims.get("exp", 0)) or float(claims.get("iat", 0)) < self._revoked_before:
            return TokenCheck.EXPIRED
        audience = claims.get("aud")
        if not isinstance(audience, list) or tenant not in audience:
            return TokenCheck.WRONG_TENANT
        return TokenCheck.VALID

    def grant_of(self, token: str) -> Grant | None:
        """The grant carried by a (refresh) token, without checking it."""
        claims = self._decode(token)
        if claims is None:
            return None
        audience = claims.get("aud", [])
        tenant = audience[-1] if isinstance(audience, list) and audience else ""
        return Grant(str(tenant), str(claims.get("client_id", "")), claims.get("user_name"))
