"""The FastAPI application (``g2p-phee serve``)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee import __version__
from g2p_payment_phee.web.api import callbacks


def create_app(factory: sessionmaker[Session]) -> FastAPI:
    """The application over a database (its session factory)."""
    app = FastAPI(title="g2p-payment-phee", version=__version__, docs_url="/api/docs")
    app.state.session_factory = factory
    app.include_router(callbacks.router, prefix="/api/v1")

    @app.get("/healthz", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
