"""Every JSON route under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from g2p_payment_phee.web.api import (
    audit_events,
    batches,
    batching,
    callbacks,
    cycles,
    exports,
    g2p_connect_senders,
    id_types,
    jobs,
    managers,
    me,
    payment_runs,
    payments,
    phee_defaults,
    programs,
    registrants,
    reports,
    users,
)
from g2p_payment_phee.web.api.guards import reject_nul_text
from g2p_payment_phee.web.api.schemas import ERROR_RESPONSES

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(callbacks.router)
for module in (
    me,
    users,
    registrants,
    id_types,
    programs,
    managers,
    phee_defaults,
    cycles,
    reports,
    payment_runs,
    batching,
    batches,
    payments,
    jobs,
    audit_events,
    exports,
    g2p_connect_senders,
):
    api_router.include_router(
        module.router, responses=ERROR_RESPONSES, dependencies=[Depends(reject_nul_text)]
    )
