"""The emulator's ASGI application: both PHEE faces (bulk processor and operations app) on one
port, plus the ``/_emulator`` admin endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from . import routes_admin, routes_bulk, routes_ops
from .bodies import json_response, spring_error
from .config import EmulatorConfig
from .faults import FaultMiddleware
from .routing import fallback_error
from .state import EmulatorState


def create_app(config: EmulatorConfig | None = None) -> FastAPI:
    """Build an emulator app; its state is ``app.state.emulator`` (:class:`EmulatorState`)."""
    state = EmulatorState(config or EmulatorConfig())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.workflow.start()
        try:
            yield
        finally:
            state.release_hangs()
            await state.workflow.stop()
            state.store.close()

    app = FastAPI(
        title="PHEE emulator",
        lifespan=lifespan,
        docs_url=f"{routes_admin.PREFIX}/docs",
        openapi_url=f"{routes_admin.PREFIX}/openapi.json",
        redoc_url=None,
    )
    app.state.emulator = state
    app.include_router(routes_bulk.router)
    app.include_router(routes_ops.router)
    app.include_router(routes_admin.router)
    app.add_middleware(
        FaultMiddleware,
        engine=lambda: state.faults,
        registry=state.connections,
        hang_release=state.hang_release,
    )
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, fallback_error)
    return app


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Spring Boot's error body for unknown paths and methods; plain detail for admin."""
    if request.url.path.startswith(routes_admin.PREFIX):
        return json_response({"detail": exc.detail}, status=exc.status_code)
    messages = {404: ("Not Found", "No message available")}
    error, message = messages.get(exc.status_code, (str(exc.detail), str(exc.detail)))
    if exc.status_code == 405:
        error, message = "Method Not Allowed", f"Request method '{request.method}' not supported"
    body = spring_error(exc.status_code, error, message, request.url.path)
    return json_response(body, status=exc.status_code)
