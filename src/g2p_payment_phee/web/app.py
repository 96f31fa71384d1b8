"""The FastAPI application (``g2p-phee serve``): HTML pages for staff, JSON under /api/v1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from g2p_payment_phee import __version__
from g2p_payment_phee.jobs.runner import (
    start_job_runner,
    start_job_runner_threads,
    stop_job_runner,
)
from g2p_payment_phee.web.api.docs import install_api_docs
from g2p_payment_phee.web.api.g2p_connect import router as g2p_connect_router
from g2p_payment_phee.web.api.router import api_router
from g2p_payment_phee.web.errors import install_api_error_handlers
from g2p_payment_phee.web.headers import SecurityHeaders
from g2p_payment_phee.web.limits import BodyLimits
from g2p_payment_phee.web.locale import RequestLocale
from g2p_payment_phee.web.pages.errors import install_page_error_handlers
from g2p_payment_phee.web.pages.router import STATIC_DIR, pages_router


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    start_job_runner_threads(app.state.job_runner)
    yield
    await run_in_threadpool(stop_job_runner, app.state.job_runner)  # running jobs finish


def create_app(factory: sessionmaker[Session]) -> FastAPI:
    """The application over a database (its session factory) and its job runner."""
    app = FastAPI(
        lifespan=_lifespan,
        title="g2p-payment-phee",
        version=__version__,
        docs_url=None,  # served by web/api/docs.py from the package's own files
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.session_factory = factory
    app.state.job_runner = start_job_runner(factory)
    install_api_error_handlers(app)
    install_page_error_handlers(app)
    app.add_middleware(BodyLimits)  # authentication and size before any body is read
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestLocale)  # outermost: error answers are in the request's language
    app.include_router(api_router)
    app.include_router(g2p_connect_router)  # its own bearer tokens (senders), not users'
    app.include_router(pages_router)
    install_api_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        """The icon for answers without a page (JSON, files), which browsers ask for here."""
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    @app.get("/healthz", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
