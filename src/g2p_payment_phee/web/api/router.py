"""Every JSON route under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from g2p_payment_phee.web.api import callbacks

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(callbacks.router)
