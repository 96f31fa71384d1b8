"""The PHEE bearer token as an ``httpx.Auth`` (SPEC 5.1).

``POST {auth_endpoint_url}?username=…&password=…&grant_type=…`` with ``Authorization: <the
configured secret>`` (``Basic Y2xpZW50Og==`` for PHEE's client ``client:``) and
``Platform-TenantId``; the answer's ``access_token`` is cached until shortly before
``expires_in`` runs out.  A 401 on any call fetches one new token and repeats that call once.

The token request is yielded from the auth flow, so it goes through the same client, transport,
timeouts and TLS settings as the call it precedes.  The cache is shared by threads: one thread
fetches while the others wait for its token.  Sync clients only (the lock is a thread lock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from g2p_payment_phee.phee.errors import (
    PheeAuthError,
    PheeError,
    PheeProtocolError,
    PheeUnavailable,
    Redactor,
    error_from_response,
)
from g2p_payment_phee.phee.wire import decode_json, protocol_error

__all__ = ["AccessToken", "PheeTokenAuth"]

_DEFAULT_LIFETIME = 60.0  # when the hub sends no expires_in


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and the clock reading after which it must not be used."""

    value: str
    expires_in: float
    refresh_at: float

    def __repr__(self) -> str:
        return f"AccessToken(<hidden>, expires_in={self.expires_in}, refresh_at={self.refresh_at})"


class PheeTokenAuth(httpx.Auth):
    """Adds ``Authorization: Bearer <token>`` to every request; see the module docstring."""

    requires_response_body = True

    def __init__(
        self,
        *,
        token_url: str,
        tenant_id: str,
        username: str,
        password: str | None,
        grant_type: str,
        authorization: str | None,
        redact: Redactor,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = token_url
        self._params = {"username": username, "password": password or "", "grant_type": grant_type}
        self._headers = {"Platform-TenantId": tenant_id, "Accept": "application/json"}
        if authorization:
            self._headers["Authorization"] = authorization
        self._redact = redact
        self._clock = clock
        self._lock = threading.Lock()
        self._token: AccessToken | None = None

    def __repr__(self) -> str:
        return f"PheeTokenAuth(token_url={self._url!r})"

    @property
    def token(self) -> AccessToken | None:
        """The cached token (None before the first fetch)."""
        return self._token

    def token_request(self, timeout: httpx.Timeout | None = None) -> httpx.Request:
        """The token request, for the flow and for "Test connection"."""
        extensions = {"timeout": timeout.as_dict()} if timeout else {}
        return httpx.Request(
            "POST",
            self._url,
            params=self._params,
            headers=self._headers,
            json={},
            extensions=extensions,
        )

    def accept(self, response: httpx.Response, sent_at: float) -> AccessToken:
        """Cache the token of a token response, or raise the typed error it means.

        Every error says ``maybe_delivered=False``: the call that needed the token was not
        sent (or, after a 401, was refused).
        """
        try:
            return self._store(response, sent_at)
        except PheeError as error:
            error.maybe_delivered = False
            raise

    def _store(self, response: httpx.Response, sent_at: float) -> AccessToken:
        if response.status_code != 200:
            raise _token_failure(response, self._redact)
        data = decode_json(response, self._redact, "token request")
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            raise protocol_error(response, self._redact, "token request", "has no access_token")
        value: str = data["access_token"]
        self._redact.add(value)
        refresh = data.get("refresh_token")
        self._redact.add(refresh if isinstance(refresh, str) else None)
        if not value:
            raise protocol_error(response, self._redact, "token request", "has no access_token")
        lifetime = _lifetime(data.get("expires_in"))
        margin = min(60.0, lifetime / 10)
        self._token = AccessToken(value, lifetime, sent_at + lifetime - margin)
        return self._token

    def _usable(self) -> AccessToken | None:
        token = self._token
        return token if token is not None and self._clock() < token.refresh_at else None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Bearer from the cache (fetched when missing or stale); one refresh on a 401."""
        with self._lock:
            token = self._usable()
            if token is None:
                sent_at = self._clock()
                fetch = self.token_request(_timeout_of(request))
                token = self.accept((yield fetch), sent_at)
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code != 401:
            return
        with self._lock:
            current = self._token
            if current is None or current.value == token.value:
                sent_at = self._clock()
                fetch = self.token_request(_timeout_of(request))
                current = self.accept((yield fetch), sent_at)
        request.headers["Authorization"] = f"Bearer {current.value}"
        yield request


def _timeout_of(request: httpx.Request) -> httpx.Timeout | None:
    value: Any = request.extensions.get("timeout")
    if not isinstance(value, dict):
        return None
    return httpx.Timeout(
        connect=value.get("connect"),
        read=value.get("read"),
        write=value.get("write"),
        pool=value.get("pool"),
    )


def _lifetime(value: Any) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        return _DEFAULT_LIFETIME
    return seconds if seconds > 0 else _DEFAULT_LIFETIME


def _token_failure(response: httpx.Response, redact: Redactor) -> PheeError:
    """A refused token (any 4xx) is an auth error; 5xx means unavailable."""
    error = error_from_response(response, redact, "token request")
    cls: type[PheeError] = PheeProtocolError
    if 400 <= response.status_code < 500:
        cls = PheeAuthError
    elif isinstance(error, PheeUnavailable):
        cls = PheeUnavailable
    return cls(error.message, endpoint=error.endpoint, status=error.status, body=error.body)
