"""The end of PHEE's bulk workflow: the final aggregate and the batch callback.

A batch is *finished* when its transfers are final: the stored batch row is recomputed (as
PHEE's batchAggregate stage does), the result file becomes available and, when the upload gave
``X-CallbackURL``, the callback is POSTed once (or more, with the duplicate-callback fault).
A ticker wakes at the next due time; advancing the clock or "complete all" wakes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from .bodies import dumps
from .clock import Clock
from .models import BatchRecord, Counts
from .store import Store

log = logging.getLogger(__name__)


def recompute(store: Store, batch: BatchRecord, now: float) -> Counts:
    """PHEE's aggregate: live counts, written back to the stored row with a completion stamp."""
    batch.snapshot_at = now
    batch.completed_at = now
    batch.aggregated = True
    store.save(batch)
    return batch.counts(now)


def callback_body(batch: BatchRecord, counts: Counts) -> dict[str, str]:
    """The callback JSON; the percentage is ``floor(successful / total * 100)``."""
    rate = math.floor(counts.successful / counts.total * 100) if counts.total else 0
    return {
        "clientCorrelationId": batch.correlation_id,
        "batchId": batch.batch_id,
        "message": f"The Batch Aggregation API was complete with : {rate}",
    }


@dataclass(frozen=True)
class CallbackRecord:
    """One callback attempt, kept for inspection."""

    batch_id: str
    url: str
    attempt: int
    body: dict[str, str]
    status_code: int | None
    error: str | None
    at: float

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return asdict(self)


class Workflow:
    """Finishes batches when they become final and sends their callbacks."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        duplicate_callbacks: Callable[[], int],
        callback_timeout: float,
        callback_delay: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._duplicates = duplicate_callbacks
        self._callback_delay = callback_delay
        self._timeout = callback_timeout
        self._due: list[tuple[float, int, str]] = []
        self._wake: asyncio.Event | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self.callbacks: list[CallbackRecord] = []
        self._recorded: asyncio.Event | None = None

    async def start(self) -> None:
        """Start the ticker on the running loop; finish what became due while stopped."""
        self._wake = asyncio.Event()
        for batch in self._store:
            if not batch.finished:
                self.track(batch)
        self._ticker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the ticker and wait for callbacks in flight."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def track(self, batch: BatchRecord) -> None:
        """Finish ``batch`` now if it is final, else when it becomes due."""
        if batch.is_final(self._clock.now()):
            self.finish(batch)
            return
        heapq.heappush(self._due, (batch.due_at, batch.seq, batch.batch_id))
        self.wake()

    def wake(self) -> None:
        """Re-check due batches now (after the clock moved or due times changed)."""
        if self._wake is not None:
            self._wake.set()

    def reset(self) -> None:
        """Forget pending batches and the callback log."""
        self._due.clear()
        self.callbacks.clear()

    def complete_all(self) -> int:
        """Make every unfinished batch final now; returns how many were finished."""
        now = self._clock.now()
        pending = [b for b in self._store if not b.finished]
        for batch in pending:
            batch.due_at = min(batch.due_at, now)
            self.finish(batch)
        self._due.clear()
        return len(pending)

    def sweep(self) -> None:
        """Finish every tracked batch whose due time has passed."""
        now = self._clock.now()
        while self._due and self._due[0][0] <= now:
            _, _, batch_id = heapq.heappop(self._due)
            batch = self._store.get(batch_id)
            if batch is not None and not batch.finished:
                if batch.is_final(now):
                    self.finish(batch)
                else:
                    heapq.heappush(self._due, (batch.due_at, batch.seq, batch.batch_id))

    def finish(self, batch: BatchRecord) -> None:
        """Final aggregate, result file, callback."""
        if batch.finished:
            return
        batch.finished = True
        counts = recompute(self._store, batch, self._clock.now())
        if batch.callback_url:
            body = callback_body(batch, counts)
            task = asyncio.get_running_loop().create_task(self._send(batch, body))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: BatchRecord, body: dict[str, str]) -> None:
        assert batch.callback_url is not None
        delay = self._callback_delay()
        if delay > 0:
            await asyncio.sleep(delay)
        for attempt in range(1, 2 + self._duplicates()):
            status: int | None = None
            error: str | None = None
            try:
                response = await self._client().post(
                    batch.callback_url,
                    content=dumps(body),
                    headers={"Content-Type": "application/json"},
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.info("callback for batch %s failed: %s", batch.batch_id, error)
            self.callbacks.append(
                CallbackRecord(
                    batch.batch_id,
                    batch.callback_url,
                    attempt,
                    body,
                    status,
                    error,
                    self._clock.now(),
                )
            )
            self._recorded_event().set()

    def _recorded_event(self) -> asyncio.Event:
        if self._recorded is None:
            self._recorded = asyncio.Event()
        return self._recorded

    async def settle(self) -> None:
        """Wait until every callback in flight has been attempted (all duplicates included)."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    async def wait_for_callbacks(self, count: int, timeout: float) -> list[CallbackRecord]:
        """Wait until at least ``count`` callback attempts were recorded (TimeoutError if not)."""
        async with asyncio.timeout(timeout):
            while len(self.callbacks) < count:
                event = self._recorded_event()
                event.clear()
                await event.wait()
        return list(self.callbacks)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout)
        return self._http

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                self.sweep()
            except Exception:  # the ticker must outlive any single bad batch
                log.exception("finishing due batches failed")
            self._wake.clear()
            timeout = None
            if self._due:
                timeout = max(self._due[0][0] - self._clock.now(), 0.0) + 0.001
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
