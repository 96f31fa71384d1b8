"""``POST /api/v1/phee/callback/{token}``: PHEE's batch callback (no session, token-protected).

Always answers 200 with a small JSON body (PHEE retries anything else, and an attacker learns
nothing from it); a verified callback submits a ``sync_batch`` job for its batch, in the same
transaction as the callback's audit event, dispatched once that commits (a repeated callback
joins the job already queued or running).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request

from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.errors import G2PError
from g2p_payment_phee.jobs.service import submit
from g2p_payment_phee.phee.callbacks import receive_callback
from g2p_payment_phee.web.deps import SessionFactory

log = logging.getLogger(__name__)
router = APIRouter(tags=["PHEE callback"])
MAX_BODY = 64 * 1024


@router.post("/phee/callback/{token}")
async def phee_callback(token: str, request: Request, factory: SessionFactory) -> dict[str, str]:
    """Receive PHEE's callback for one batch."""
    body = await _json_body(request)
    with unit_of_work(factory) as session:
        verdict = receive_callback(session, token, body)
        if verdict.batch_id is not None:
            try:
                submit(session, None, "sync_batch", {"batch_id": verdict.batch_id})
            except G2PError as error:  # the periodic sync remains the fallback
                log.warning("no sync after callback for batch %s: %s", verdict.batch_id, error)
    return {"status": "received"}


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return None
    try:
        import json

        return json.loads(raw)
    except ValueError:
        return None
