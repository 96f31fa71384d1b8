"""A scripted fake hub behind ``httpx.MockTransport``, and settings/secrets for the unit tests.

The secrets are distinctive strings so a test can prove they never appear anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from g2p_payment_phee.phee.client import PheeClient
from g2p_payment_phee.phee.retry import RetryPolicy
from g2p_payment_phee.phee.settings import PheeSecrets, PheeSettings

BASE = "https://hub.test"
PASSWORD = "Pa55-w0rd_only-the-hub-knows"
AUTHORIZATION = "Basic Y2xpZW50OnZlcnktc2VjcmV0LWNsaWVudA=="  # client:very-secret-client
CLIENT_SECRET_DECODED = "client:very-secret-client"
TOKEN_PREFIX = "eyJhbGciOiJIUzI1NiJ9.bearer-token-number-"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def settings(**overrides: Any) -> PheeSettings:
    """Manager settings pointing at the fake hub."""
    values: dict[str, Any] = {
        "tenant_id": "gorilla",
        "payee_id_type": "phone",
        "username": "mifos",
        "auth_endpoint_url": f"{BASE}/oauth/token",
        "payment_endpoint_url": f"{BASE}/batchtransactions",
        "status_endpoint_url": f"{BASE}/api/v1/batch",
        "details_endpoint_url": f"{BASE}/api/v1/batch/detail",
        "batch_request_timeout": 7.5,
    }
    values.update(overrides)
    return PheeSettings(**values)


def secrets(**overrides: Any) -> PheeSecrets:
    """Password and Authorization set; no signing key unless given."""
    values: dict[str, Any] = {"password": PASSWORD, "authorization": AUTHORIZATION}
    values.update(overrides)
    return PheeSecrets(**values)


def json_reply(status: int, body: Any, **headers: str) -> httpx.Response:
    """A JSON answer (numbers written as given; strings for exotic bodies)."""
    text = body if isinstance(body, str) else json.dumps(body)
    return httpx.Response(
        status, content=text.encode(), headers={"content-type": "application/json", **headers}
    )


@dataclass
class FakeHub:
    """Answers by ``(method, path)`` from scripted queues; the token endpoint issues tokens.

    A queue's last reply repeats.  With ``enforce_bearer`` any call without a live token gets
    401.  Every request is recorded (with its body read).
    """

    enforce_bearer: bool = False
    expires_in: Any = 600
    routes: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    live_tokens: set[str] = field(default_factory=set)
    issued: int = 0

    def on(self, method: str, path: str, *replies: Reply) -> FakeHub:
        self.routes[(method, path)] = list(replies)
        return self

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]

    def revoke_tokens(self) -> None:
        self.live_tokens.clear()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        # A snapshot: httpx re-sends the same Request object (new bearer) after a 401.
        self.requests.append(
            httpx.Request(
                request.method,
                request.url,
                headers=request.headers.copy(),
                content=request.content,
                extensions=request.extensions,
            )
        )
        key = (request.method, request.url.path)
        if key not in self.routes and key == ("POST", "/oauth/token"):
            return self._issue()
        if self.enforce_bearer and request.url.path != "/oauth/token":
            bearer = request.headers.get("authorization", "")
            if bearer.removeprefix("Bearer ") not in self.live_tokens:
                return json_reply(401, {"error": "invalid_token"})
        queue = self.routes.get(key)
        if not queue:
            return httpx.Response(404, text=f"no route {key}")
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        return reply(request) if callable(reply) else reply

    def _issue(self) -> httpx.Response:
        self.issued += 1
        token = f"{TOKEN_PREFIX}{self.issued}"
        self.live_tokens.add(token)
        body = {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in}
        return json_reply(200, body)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Sleeps:
    """Records the waits a retry policy asked for instead of waiting."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(
    hub: FakeHub,
    *,
    clock: FakeClock | None = None,
    sleeps: Sleeps | None = None,
    attempts: int = 3,
    **setting_overrides: Any,
) -> PheeClient:
    """A PheeClient on the fake hub; retries never sleep."""
    secret_overrides = setting_overrides.pop("secrets", {})
    policy = RetryPolicy(attempts=attempts, sleep=sleeps or Sleeps(), jitter=lambda: 0.5)
    return PheeClient(
        settings(**setting_overrides),
        secrets(**secret_overrides),
        transport=httpx.MockTransport(hub),
        clock=clock or FakeClock(),
        retry=policy,
    )


def multipart_parts(request: httpx.Request) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/form-data body: (headers, exact content bytes)."""
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=", 1)[1].encode()
    assert not boundary.startswith(b'"'), "PHEE never matches a quoted boundary"
    body = request.content
    assert body.endswith(b"--" + boundary + b"--\r\n")
    chunks = body.split(b"--" + boundary)
    assert chunks[0] == b""
    assert chunks[-1] == b"--\r\n"
    parts = []
    for chunk in chunks[1:-1]:
        assert chunk.startswith(b"\r\n")
        assert chunk.endswith(b"\r\n")
        head, _, content = chunk[2:-2].partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(": ")
            headers[name.lower()] = value
        parts.append((headers, content))
    return parts
