"""Delivering ``on-disburse`` callbacks to senders over HTTP (docs/g2p-connect.md, "Callbacks").

A callback is POSTed as JSON to the transaction's ``header.sender_uri``, else the sender's
registered callback URL, as it is (the spec's examples are full URLs). When the sender
registered its own token endpoint, the request carries ``Authorization: Bearer <token>``, the
token got from that endpoint with client credentials and the scope ``disburse.on-disburse``
(one token per sender per delivery round; after a 401, a fresh token and one more try).

Only an ``ACK`` counts as delivered. ``NACK``, ``ERR``, any HTTP error, a body that is not an ack
and no answer within the timeouts are failures, described in ``last_error`` without any secret:
no token, no client secret, no body the sender echoed back beyond a short excerpt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import ConfigurationError
from g2p_payment_phee.g2p_connect.outbox import Claimed
from g2p_payment_phee.security import decrypt_secret

CALLBACK_SCOPE = "disburse.on-disburse"
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
EXCERPT = 200


class DeliveryFailed(Exception):
    """A delivery attempt the sender did not ACK; ``reason`` is safe to store and log."""

    def __init__(self, reason: str, *, token_refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.token_refused = token_refused


@dataclass
class CallbackDelivery:
    """Delivers claimed callbacks with one HTTP client and a token per sender (this round)."""

    http: httpx.Client
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def deliver(self, claimed: Claimed) -> str | None:
        """POST one callback; None when ACKed, else why not (safe to store)."""
        if not claimed.url:
            return "no callback URL: the disburse had no sender_uri and the sender none registered"
        try:
            try:
                self._post(claimed, self._headers(claimed))
            except DeliveryFailed as failure:
                if not (failure.token_refused and _has_token(claimed)):
                    raise
                # an expired or revoked token: once more with a fresh one
                self._tokens.pop(_token_key(claimed), None)
                self._post(claimed, self._headers(claimed))
        except DeliveryFailed as failure:
            return failure.reason
        return None

    def _headers(self, claimed: Claimed) -> dict[str, str]:
        if not _has_token(claimed):
            return {}
        return {"Authorization": f"Bearer {self._token(claimed)}"}

    def _post(self, claimed: Claimed, headers: dict[str, str]) -> None:
        assert claimed.url is not None
        where = _where(claimed.url)
        try:
            answer = self.http.post(claimed.url, json=claimed.body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryFailed(f"{where}: no answer in time") from None
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"{where}: {type(error).__name__}") from None
        if answer.status_code >= 300:
            raise DeliveryFailed(
                f"{where}: HTTP {answer.status_code} {_excerpt(answer.text)}".rstrip(),
                token_refused=answer.status_code == 401,
            )
        status, detail = _ack(answer)
        if status != "ACK":
            raise DeliveryFailed(f"{where}: {status} {detail}".rstrip())

    def _token(self, claimed: Claimed) -> str:
        key = _token_key(claimed)
        token = self._tokens.get(key)
        if token is None:
            token = self._fetch_token(claimed)
            self._tokens[key] = token
        return token

    def _fetch_token(self, claimed: Claimed) -> str:
        assert claimed.token_url
        assert claimed.token_client_id
        where = _where(claimed.token_url)
        try:
            secret = decrypt_secret(
                get_settings().secret(), claimed.token_client_secret_encrypted or ""
            )
        except ConfigurationError as error:
            raise DeliveryFailed(f"the sender's token secret: {error.message}") from None
        form = {
            "grant_type": "client_credentials",
            "client_id": claimed.token_client_id,
            "client_secret": secret,
            "scope": CALLBACK_SCOPE,
        }
        try:
            answer = self.http.post(claimed.token_url, data=form)
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"token endpoint {where}: {type(error).__name__}") from None
        if answer.status_code != 200:
            raise DeliveryFailed(f"token endpoint {where}: HTTP {answer.status_code}")
        try:
            token = answer.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            raise DeliveryFailed(f"token endpoint {where}: no access_token in its answer") from None
        if not isinstance(token, str) or not token:
            raise DeliveryFailed(f"token endpoint {where}: no access_token in its answer")
        return token


def _has_token(claimed: Claimed) -> bool:
    return bool(claimed.token_url and claimed.token_client_id)


def _token_key(claimed: Claimed) -> tuple[str, str]:
    return (claimed.token_url or "", claimed.token_client_id or "")


def _ack(answer: httpx.Response) -> tuple[str, str]:
    """The ack's status and, for ERR, its error code (``message.ack_status``; 0.1's
    ``message.ack.status`` too)."""
    try:
        data: Any = answer.json()
        message = data["message"]
        status = message.get("ack_status") or (message.get("ack") or {}).get("status")
    except (ValueError, KeyError, TypeError, AttributeError):
        return "no ack", _excerpt(answer.text)
    error = message.get("error") if isinstance(message, dict) else None
    code = error.get("code", "") if isinstance(error, dict) else ""
    return (str(status).upper() if status else "no ack_status"), str(code)[:100]


def _where(url: str) -> str:
    """Where a request went, without any credentials or query the URL may carry."""
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def _excerpt(text: str) -> str:
    flat = json.dumps(text[:EXCERPT])[1:-1]
    return flat + ("…" if len(text) > EXCERPT else "")


def new_http_client(timeout: httpx.Timeout = TIMEOUT) -> httpx.Client:
    """The client callbacks are delivered with: explicit timeouts, no redirects followed."""
    return httpx.Client(timeout=timeout, follow_redirects=False)
