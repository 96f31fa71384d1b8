"""G2P Connect's step of the sweep (``jobs.sweep``), the same in the embedded and scale modes:
write the callbacks owed to senders into the outbox, then deliver the due ones.

Both are safe to run in several processes at once: writing locks each transaction (and marks
a record only if it still holds what was read), delivering leases each callback.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import Counter
from datetime import datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.g2p_connect.callbacks import CallbackDelivery, new_http_client
from g2p_payment_phee.g2p_connect.outbox import claim_due, record_outcome, write_callbacks
from g2p_payment_phee.g2p_connect.outbox_models import CallbackState

log = logging.getLogger(__name__)
CLAIM_LIMIT = 50
DELIVERY_BUDGET_SECONDS = 30.0  # then the rest waits for the next sweep


def claimer_name() -> str:
    """Who claims a callback: host, process and a fresh suffix (one per delivery run)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def deliver_due(
    factory: sessionmaker[Session],
    *,
    http: httpx.Client | None = None,
    now: datetime | None = None,
    budget_seconds: float = DELIVERY_BUDGET_SECONDS,
) -> Counter[str]:
    """Deliver every due callback (rounds of claims: a transaction's next callback is due once
    its previous one is delivered) until none is due or the budget is spent; the outcomes as
    counts (``delivered``, ``retrying``, ``given_up``)."""
    counts: Counter[str] = Counter()
    claimer = claimer_name()
    client = http or new_http_client()
    delivery = CallbackDelivery(client)
    deadline = time.monotonic() + budget_seconds
    try:
        while time.monotonic() < deadline:
            with unit_of_work(factory) as session:
                claimed = claim_due(session, claimer, now=now, limit=CLAIM_LIMIT)
            if not claimed:
                break
            for item in claimed:
                error = delivery.deliver(item)
                with unit_of_work(factory) as session:
                    state = record_outcome(session, item, claimer, error, now=now)
                counts[_outcome(state)] += 1
                if error is not None:
                    log.warning(
                        "g2p-connect callback %s to sender %s, attempt %d: %s",
                        item.message_id,
                        item.sender_id,
                        item.attempts + 1,
                        error,
                    )
    finally:
        if http is None:
            client.close()
    return counts


def _outcome(state: CallbackState | None) -> str:
    if state is None:
        return "claim_lost"
    return {CallbackState.DELIVERED: "delivered", CallbackState.GIVEN_UP: "given_up"}.get(
        state, "retrying"
    )


def sweep_callbacks(
    factory: sessionmaker[Session],
    *,
    http: httpx.Client | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """The sweep's step: write the callbacks owed, deliver the due ones; what it did."""
    written = write_callbacks(factory)
    delivered = deliver_due(factory, http=http, now=now)
    return {
        "g2p_callbacks_written": written,
        "g2p_callbacks_delivered": delivered["delivered"],
        "g2p_callbacks_retrying": delivered["retrying"] + delivered["given_up"],
    }
