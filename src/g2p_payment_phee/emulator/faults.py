"""Fault injection: an ASGI middleware in front of the PHEE routes, driven by seeded rules.

A rule picks requests by endpoint group, chance (``random.Random(seed)``) and count. With
``after_store`` the endpoint runs first (an upload is stored) and the client then gets the fault
instead of the real answer. Dropping a connection needs the socket: the emulator's uvicorn
protocol registers every transport by client address so the middleware can abort it without
sending a byte.

Two upload-only kinds change *when* and *how often* an upload is stored. ``late_store`` reads
the whole request, holds it un-stored (a busy hub's queue) for ``seconds`` or until the hangs
are released, then runs the real endpoint, which stores the batch whatever the client did
meanwhile (a reply to a client that has gone is dropped by uvicorn). ``store_twice`` runs the
endpoint twice on the same request (a retrying proxy in front of the hub) and answers with
the first reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .bodies import dumps, expired_token
from .config import Endpoint, FaultConfig, FaultKind, FaultRule

_GATEWAY_ERROR = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"


def classify(path: str) -> Endpoint | None:
    """The endpoint group of a request path, or None for paths faults never touch."""
    if path == "/batchtransactions":
        return Endpoint.UPLOAD
    if path == "/oauth/token":
        return Endpoint.TOKEN
    if path.startswith(("/api/v1/batch/detail", "/api/v1/batch/transactions")):
        return Endpoint.DETAILS
    if path.startswith("/api/v1/batches"):
        return Endpoint.LIST
    if path == "/api/v1/batch" or path.startswith("/api/v1/batch/"):
        return Endpoint.STATUS
    return None


class FaultEngine:
    """Chooses which rule (if any) hits a request; deterministic for a given seed and order."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self._rng = random.Random(seed)
        self.held = 0
        self.configure(config)

    def configure(self, config: FaultConfig) -> None:
        """Replace the rules; fire counts start again from zero."""
        self.config = config
        self.fired = [0] * len(config.rules)

    def reseed(self, seed: int) -> None:
        """Restart the random sequence."""
        self._rng = random.Random(seed)

    def pick(self, endpoint: Endpoint) -> FaultRule | None:
        """The first rule that matches ``endpoint``, has fires left and wins its draw."""
        for number, rule in enumerate(self.config.rules):
            if endpoint not in rule.endpoints:
                continue
            if rule.times is not None and self.fired[number] >= rule.times:
                continue
            if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                continue
            self.fired[number] += 1
            return rule
        return None


class ConnectionRegistry:
    """Open transports by client address, filled by :func:`tracking_protocol`."""

    def __init__(self) -> None:
        self._transports: dict[tuple[str, int], asyncio.Transport] = {}

    def add(self, client: tuple[str, int], transport: asyncio.Transport) -> None:
        """Remember a new connection."""
        self._transports[client] = transport

    def remove(self, client: tuple[str, int]) -> None:
        """Forget a closed connection."""
        self._transports.pop(client, None)

    def __len__(self) -> int:
        return len(self._transports)

    def abort(self, client: Any) -> bool:
        """Reset the connection of ``client``; False when it is unknown."""
        if not client:
            return False
        transport = self._transports.pop((str(client[0]), int(client[1])), None)
        if transport is None:
            return False
        transport.abort()
        return True


def tracking_protocol(registry: ConnectionRegistry) -> type[H11Protocol]:
    """A uvicorn HTTP protocol class that registers its transport in ``registry``."""

    class TrackingH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if self.client is not None:
                registry.add(self.client, transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.client is not None:
                registry.remove(self.client)
            super().connection_lost(exc)

    return TrackingH11Protocol


class _Captured:
    """A response held back by the middleware."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.body = bytearray()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


class FaultMiddleware:
    """Applies the fault rules of the emulator state to the PHEE endpoints."""

    def __init__(
        self,
        app: ASGIApp,
        engine: Callable[[], FaultEngine],
        registry: ConnectionRegistry,
        hang_release: Callable[[], asyncio.Event],
    ) -> None:
        self.app = app
        self._engine = engine
        self._registry = registry
        self._release = hang_release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = classify(scope["path"]) if scope["type"] == "http" else None
        engine = self._engine()
        rule = engine.pick(endpoint) if endpoint and engine.config.rules else None
        if rule is None:
            await self.app(scope, receive, send)
            return
        await self._apply(rule, scope, receive, send)

    async def _apply(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        if rule.kind is FaultKind.LATE_STORE:
            await self._late_store(rule.seconds, scope, receive, send)
            return
        if rule.kind is FaultKind.STORE_TWICE:
            await self._store_twice(scope, receive, send)
            return
        captured: _Captured | None = None
        if rule.kind is FaultKind.SLOW:
            await asyncio.sleep(rule.seconds)
        elif rule.after_store or rule.kind is FaultKind.MALFORMED_JSON:
            captured = _Captured()
            await self.app(scope, receive, captured.send)
        if rule.kind is FaultKind.HANG:
            await self._hang(rule.seconds)
        if rule.kind in (FaultKind.SLOW, FaultKind.HANG):
            if captured is None:
                await self.app(scope, receive, send)
            else:
                await _replay(captured, send, bytes(captured.body))
        elif rule.kind is FaultKind.DROP:
            await self._drop(scope, receive, send)
        elif rule.kind is FaultKind.ERROR_5XX:
            await _plain(send, rule.status, _GATEWAY_ERROR, b"text/html")
        elif rule.kind is FaultKind.TOKEN_EXPIRED:
            await _plain(send, 401, dumps(expired_token(_bearer(scope))), b"application/json")
        elif captured is not None:
            await _replay(captured, send, _corrupt(bytes(captured.body)))

    async def _hang(self, seconds: float) -> None:
        engine = self._engine()
        engine.held += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release().wait(), seconds)
        finally:
            engine.held -= 1

    async def _late_store(self, seconds: float, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:  # the client left before its upload was complete: nothing to store
            return
        await self._hang(seconds)
        captured = _Captured()
        await self.app(dict(scope), _replaying(body, receive), captured.send)
        await _deliver(captured, send)

    async def _store_twice(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            return
        first = _Captured()
        await self.app(dict(scope), _replaying(body, receive), first.send)
        await self.app(dict(scope), _replaying(body, receive), _Captured().send)
        await _deliver(first, send)

    async def _drop(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._registry.abort(scope.get("client")):
            # Not served by the tracking protocol: cut the response short instead.
            headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            return
        try:
            async with asyncio.timeout(1.0):
                while (await receive())["type"] != "http.disconnect":
                    pass
        except TimeoutError:
            pass


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client disconnected before sending it all."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields ``body`` in one message, then defers to the real one."""
    pending = [body]

    async def replay() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replay


async def _deliver(captured: _Captured, send: Send) -> None:
    """Send a captured reply; uvicorn drops it silently when the client has gone, other
    servers may raise, which must not matter once the batch is stored."""
    if captured.start is None:
        return
    with contextlib.suppress(OSError):
        await _replay(captured, send, bytes(captured.body))


async def _plain(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _replay(captured: _Captured, send: Send, body: bytes) -> None:
    start = captured.start or {"type": "http.response.start", "status": 500, "headers": []}
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": start["status"], "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _corrupt(body: bytes) -> bytes:
    """Truncated JSON: the first half of the body, never valid JSON."""
    if len(body) < 2:
        return b"{"
    return body[: len(body) // 2]


def _bearer(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            text: str = value.decode("latin-1")
            return text.split(" ", 1)[-1]
    return ""
