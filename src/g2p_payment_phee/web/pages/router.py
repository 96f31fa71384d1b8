"""Every HTML page: one module per area, each with its own router."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from g2p_payment_phee.web.pages import (
    account,
    audit,
    auth,
    batches,
    batching,
    cycles,
    dashboard,
    entitlements,
    exports,
    g2p_connect,
    id_types,
    jobs,
    manager_list,
    managers,
    payment_jobs,
    phee_defaults,
    preferences,
    programs,
    registrants,
    reports,
)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

pages_router = APIRouter(include_in_schema=False)
# cycles, entitlements and reports before payment_jobs: its /cycles/{id}/{step} must not
# shadow the cycle's own pages
for area in (
    auth,
    dashboard,
    registrants,
    id_types,
    programs,
    managers,
    manager_list,
    phee_defaults,
    g2p_connect,
    cycles,
    entitlements,
    reports,
    batching,
    payment_jobs,
    batches,
    jobs,
    audit,
    exports,
    account,
    preferences,
):
    pages_router.include_router(area.router)
