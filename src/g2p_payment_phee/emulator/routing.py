"""Plumbing shared by the route modules: the state, early replies, never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response

from .bodies import json_response, server_error, spring_error
from .models import BatchRecord
from .state import EmulatorState

log = logging.getLogger(__name__)

BULK_PATHS = ("/batchtransactions", "/simulate")


class Reply(Exception):
    """Stop handling the request and answer with ``response`` (PHEE's early exits)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def fallback_error(request: Request, exc: BaseException) -> Response:
    """PHEE-shaped 500 for an unexpected error: bulk global handler or Spring Boot's body."""
    if request.url.path.startswith(BULK_PATHS):
        return json_response(server_error(type(exc).__name__), status=500)
    body = spring_error(500, "Internal Server Error", type(exc).__name__, request.url.path)
    return json_response(body, status=500)


class GuardedRoute(APIRoute):
    """A route whose handler answers :class:`Reply` and never leaks an exception."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except Reply as reply:
                return reply.response
            except (HTTPException, RequestValidationError):
                raise
            except Exception as exc:
                log.exception("emulator error on %s %s", request.method, request.url.path)
                return fallback_error(request, exc)

        return guarded


def state_of(request: Request) -> EmulatorState:
    """The emulator state of the app serving ``request``."""
    state: EmulatorState = request.app.state.emulator
    return state


def base_url(request: Request) -> str:
    """Public base URL for links (result files): configured, else the request's."""
    configured = state_of(request).config.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


def result_file_url(request: Request, batch: BatchRecord) -> str | None:
    """URL of the batch's result file once the batch has finished, else None."""
    if not batch.finished:
        return None
    return f"{base_url(request)}/_emulator/files/{batch.batch_id}/result.csv"


def request_file_url(request: Request, batch: BatchRecord) -> str:
    """URL of the file as PHEE saved it."""
    return f"{base_url(request)}/_emulator/files/{batch.batch_id}/request.csv"
