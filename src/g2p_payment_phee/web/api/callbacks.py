"""``POST /api/v1/phee/callback/{token}``: PHEE's batch callback (no session, token-protected).

Always answers 200 with a small JSON body (PHEE retries anything else, and an attacker learns
nothing from it), whatever the body holds (``phee.callbacks`` never raises on it; its size is
capped by ``web.limits`` before it is read). A verified callback submits a ``sync_batch`` job
for its batch, in the same transaction as the callback's audit event, dispatched once that
commits; the job engine joins the job already queued or running for that batch, so at most one
is pending. Replays (see ``phee.callbacks``) record nothing and start nothing.

Each token is rate-limited in this process (``CallbackRateLimiter``): past its burst, callbacks
are answered 200 and dropped before the database is asked (the periodic sync is the fallback).
Tokens nobody issued are also counted per client address: an address past its burst of them
is not heard at all for a while, so made-up tokens cannot each get a fresh allowance.
The database work runs on a worker thread, off the event loop.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.errors import G2PError
from g2p_payment_phee.jobs.service import submit
from g2p_payment_phee.phee.callbacks import UNKNOWN_TOKENS, CallbackVerdict, receive_callback
from g2p_payment_phee.web.deps import SessionFactory, client_ip

log = logging.getLogger(__name__)
router = APIRouter(tags=["PHEE callback"])
RECEIVED = {"status": "received"}
CALLBACK_BURST = 10  # PHEE sends one callback per batch, and a few retries
CALLBACK_REFILL_PER_SECOND = 0.5
TRACKED_TOKENS = 4096  # least recently seen tokens are forgotten past this many
UNKNOWN_TOKEN_BURST = 20  # made-up or mistyped tokens one address may try at once
UNKNOWN_TOKEN_REFILL_PER_SECOND = 0.1


class CallbackRateLimiter:
    """A token bucket per callback token: ``burst`` callbacks at once, then ``rate`` a second.

    In-process and bounded: at most ``tracked`` tokens are remembered (least recently seen
    forgotten first), so random tokens cannot grow it. Only used from the event loop.
    """

    def __init__(
        self,
        burst: int = CALLBACK_BURST,
        rate: float = CALLBACK_REFILL_PER_SECOND,
        tracked: int = TRACKED_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst, self.rate, self.tracked, self.clock = burst, rate, tracked, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        """Take one callback from ``key``'s bucket; False when it is empty."""
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        while len(self._buckets) > self.tracked:
            self._buckets.popitem(last=False)
        return allowed

    def exhausted(self, key: str) -> bool:
        """Whether ``key``'s bucket is empty now (taking nothing from it)."""
        found = self._buckets.get(key)
        if found is None:
            return False
        tokens, last = found
        return min(float(self.burst), tokens + (self.clock() - last) * self.rate) < 1


def rate_limiter(request: Request) -> CallbackRateLimiter:
    """The application's callback limiter (per token), made on first use."""
    state = request.app.state
    if not hasattr(state, "callback_rate_limiter"):
        state.callback_rate_limiter = CallbackRateLimiter()
    limiter: CallbackRateLimiter = state.callback_rate_limiter
    return limiter


def unknown_token_limiter(request: Request) -> CallbackRateLimiter:
    """The application's limiter of tokens nobody issued, per client address."""
    state = request.app.state
    if not hasattr(state, "unknown_token_limiter"):
        state.unknown_token_limiter = CallbackRateLimiter(
            burst=UNKNOWN_TOKEN_BURST, rate=UNKNOWN_TOKEN_REFILL_PER_SECOND
        )
    limiter: CallbackRateLimiter = state.unknown_token_limiter
    return limiter


@router.post("/phee/callback/{token}")
async def phee_callback(token: str, request: Request, factory: SessionFactory) -> dict[str, str]:
    """Receive PHEE's callback for one batch."""
    address = client_ip(request)
    strangers = unknown_token_limiter(request)
    if strangers.exhausted(address):
        return RECEIVED  # this address sent too many unknown tokens lately: not even logged
    if not rate_limiter(request).allow(token[:200]):
        log.warning("PHEE callback dropped: too many for one token")
        return RECEIVED
    raw = await request.body()
    verdict = await run_in_threadpool(_receive, factory, token, raw)
    if verdict.reason in UNKNOWN_TOKENS:
        strangers.allow(address)
    return RECEIVED


def _receive(factory: sessionmaker[Session], token: str, raw: bytes) -> CallbackVerdict:
    with unit_of_work(factory) as session:
        verdict = receive_callback(session, token, raw)
        if verdict.batch_id is not None:
            try:
                submit(session, None, "sync_batch", {"batch_id": verdict.batch_id})
            except G2PError as error:  # the periodic sync remains the fallback
                log.warning("no sync after callback for batch %s: %s", verdict.batch_id, error)
    return verdict
