"""Every HTML page: one module per area, each with its own router."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from g2p_payment_phee.web.pages import auth, dashboard

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

pages_router = APIRouter(include_in_schema=False)
for area in (auth, dashboard):
    pages_router.include_router(area.router)
