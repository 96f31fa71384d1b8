"""Every HTML page."""

from __future__ import annotations

from fastapi import APIRouter

pages_router = APIRouter(include_in_schema=False)
