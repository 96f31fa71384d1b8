"""``POST /api/v1/phee/callback/{token}``: PHEE's batch callback (no session, token-protected).

Always answers 200 with a small JSON body (PHEE retries anything else, and an attacker learns
nothing from it); a verified callback triggers a sync of its batch after the answer is sent.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.errors import G2PError
from g2p_payment_phee.payments.config_service import load_manager
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.phee.callbacks import receive_callback
from g2p_payment_phee.web.deps import SessionFactory

log = logging.getLogger(__name__)
router = APIRouter(tags=["PHEE callback"])
MAX_BODY = 64 * 1024


@router.post("/phee/callback/{token}")
async def phee_callback(
    token: str, request: Request, factory: SessionFactory, background: BackgroundTasks
) -> dict[str, str]:
    """Receive PHEE's callback for one batch."""
    body = await _json_body(request)
    with unit_of_work(factory) as session:
        verdict = receive_callback(session, token, body)
    if verdict.batch_id is not None:
        background.add_task(sync_batch_now, factory, verdict.batch_id)
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


def sync_batch_now(factory: sessionmaker[Session], batch_id: uuid.UUID) -> None:
    """Sync one batch for a verified callback (the periodic sync stays the fallback)."""
    try:
        with unit_of_work(factory) as session:
            batch = session.get(PaymentBatch, batch_id)
            if batch is None:
                return
            manager = load_manager(session, batch.cycle.program)
        manager.sync(factory, None, [batch_id])
    except G2PError as error:
        log.warning("sync after callback for batch %s failed: %s", batch_id, error.message)
