"""Request bodies checked while they are read, before anything parses them.

An ASGI middleware (``BodyLimits``) in front of every route:

- API calls that carry a body (``POST``/``PUT``/``PATCH``/``DELETE`` under ``/api/v1``, but not
  PHEE's callback, which proves itself by the token in its URL) must show a valid bearer token
  *before* their body is read: the very check the routes' ``ApiUser`` dependency makes. Without
  one the answer is 401 and not a byte of the body is read.
- Bodies are capped: ``CALLBACK_LIMIT`` for PHEE's callback, ``BODY_LIMIT`` for everything
  else but the G2P Connect API (``/g2p-connect/``), whose routes check the sender's token
  first and then read up to their own cap. A ``Content-Length`` above the cap is refused at
  once; a body that grows past it while it streams in is refused as soon as it does. Either
  way the answer is 413 with the API's JSON error, and the body is never parsed. Imports
  (paths ending in ``/import``) keep their own limit and are passed through unread.
- JSON sent to the API is nested at most ``MAX_JSON_DEPTH`` levels; deeper is a 400 with a
  clear message (not a parser error surfacing as a 500 or a traceback in the logs).

Nothing here is held for the whole body beyond the capped buffer that is then handed on.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.errors import NotAuthenticated
from g2p_payment_phee.i18n import _
from g2p_payment_phee.web.deps import api_user
from g2p_payment_phee.web.errors import error_body, json_error

API_PREFIX = "/api/v1/"
CALLBACK_PREFIX = "/api/v1/phee/callback/"
CALLBACK_LIMIT = 64 * 1024
BODY_LIMIT = 1024 * 1024
# The G2P Connect API checks a sender's token, then reads up to its own cap (a disburse
# of 10,000 records is a few MB): web/api/g2p_connect.py.
G2P_CONNECT_PREFIX = "/g2p-connect/"
G2P_CONNECT_PAGES = "/g2p-connect/senders"  # the admins' page: capped like any form
MAX_JSON_DEPTH = 64
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyTooLarge(Exception):
    """The body grew past its cap while it was read."""


class BodyLimits:
    """The middleware: authentication, size and depth checks before a route sees a body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        is_api = path.startswith(API_PREFIX) and not path.startswith(CALLBACK_PREFIX)
        if is_api and (refusal := await _unauthenticated(scope)) is not None:
            await refusal(scope, receive, send)
            return
        if path.rstrip("/").endswith("/import"):
            await self.app(scope, receive, send)
            return
        limit = CALLBACK_LIMIT if path.startswith(CALLBACK_PREFIX) else BODY_LIMIT
        if path.startswith(G2P_CONNECT_PREFIX) and not path.startswith(G2P_CONNECT_PAGES):
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_capped(scope, receive, limit)
        except BodyTooLarge:
            await _too_large(limit)(scope, receive, send)
            return
        if is_api and _is_json(scope) and _too_deep(body):
            message = _("the JSON body is nested deeper than {levels} levels").format(
                levels=MAX_JSON_DEPTH
            )
            await JSONResponse(error_body("bad_request", message), status_code=400)(
                scope, receive, send
            )
            return
        await self.app(scope, _replay(body, receive), send)


async def _unauthenticated(scope: Scope) -> JSONResponse | None:
    """The 401 answer when the request has no valid bearer token, else None."""
    factory = scope["app"].state.session_factory

    def check() -> None:
        with unit_of_work(factory) as session:
            api_user(Request(scope), session)

    try:
        await run_in_threadpool(check)
    except NotAuthenticated as error:
        return json_error(error)
    return None


async def _read_capped(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = _content_length(scope)
    if declared is not None and declared > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: hand on what came
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int) -> JSONResponse:
    message = _("the request body is larger than {limit} KB").format(limit=limit // 1024)
    # Close the connection: the rest of the body is not read.
    return JSONResponse(
        error_body("too_large", message), status_code=413, headers={"Connection": "close"}
    )


def _is_json(scope: Scope) -> bool:
    """Whether the route would parse the body as JSON (FastAPI also does with no type)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return b"json" in value.lower()
    return True


def _too_deep(body: bytes) -> bool:
    """Whether the JSON in ``body`` nests deeper than ``MAX_JSON_DEPTH`` (invalid JSON is left
    to the route's own validation)."""
    if not body:
        return False
    try:
        value = json.loads(body)
    except RecursionError:  # deeper than the parser itself can go
        return True
    except ValueError:
        return False
    return _depth_exceeds(value, MAX_JSON_DEPTH)


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item)
    return False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands on the body already read, then the client's own messages."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
