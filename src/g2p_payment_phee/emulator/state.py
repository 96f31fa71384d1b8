"""The emulator's state: configuration, clock, batches, tokens, keys, faults, workflow.

One instance per app. Every method runs on the server's event loop thread; the in-process
server (:mod:`.server`) marshals calls from other threads onto that loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

from .clock import Clock
from .config import EmulatorConfig, FaultConfig, OutcomeConfig
from .faults import ConnectionRegistry, FaultEngine
from .inspection import inspect
from .models import BatchRecord, Counts
from .processing import Intake, build_batch
from .signature import KeyRing, validate_keys
from .store import Store
from .tokens import TokenService
from .workflow import Workflow, recompute

_SECRET_KEY = "token_secret"  # noqa: S105 - the name of a meta row


class EmulatorState:
    """Everything one running emulator knows."""

    def __init__(self, config: EmulatorConfig) -> None:
        validate_keys(config.jws.keys)
        self.config = config
        self.clock = Clock()
        self.store = Store(config.sqlite_path)
        self.keyring = KeyRing(config.jws.keys)
        self.faults = FaultEngine(config.faults, config.seed)
        self.connections = ConnectionRegistry()
        self.tokens = TokenService(self._token_secret(), self.clock.now)
        self.workflow = Workflow(
            self.store,
            self.clock,
            lambda: self.config.faults.duplicate_callbacks,
            config.callback_timeout_seconds,
            lambda: self.config.outcomes.callback_delay_seconds,
        )
        self._hang_release: asyncio.Event | None = None
        self._latency_held = 0

    def _token_secret(self) -> bytes:
        stored = self.store.get_meta(_SECRET_KEY)
        if stored is not None:
            return base64.b64decode(stored)
        secret = TokenService.new_secret()
        self.store.set_meta(_SECRET_KEY, base64.b64encode(secret).decode("ascii"))
        return secret

    # --- configuration -----------------------------------------------------------------------

    def reconfigure(self, config: EmulatorConfig) -> None:
        """Apply a new configuration (storage settings are kept as they were)."""
        validate_keys(config.jws.keys)
        config = config.model_copy(update={"sqlite_path": self.config.sqlite_path})
        previous = self.config
        self.config = config
        self.keyring = KeyRing(config.jws.keys)
        if config.faults != previous.faults:
            self.faults.configure(config.faults)
        if config.seed != previous.seed:
            self.faults.reseed(config.seed)

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the fault settings; rule counters restart."""
        self.config = self.config.model_copy(update={"faults": faults})
        self.faults.configure(faults)

    def set_outcomes(self, outcomes: OutcomeConfig) -> None:
        """Replace the outcome settings (they apply to batches accepted from now on)."""
        self.config = self.config.model_copy(update={"outcomes": outcomes})

    def known_tenant(self, tenant: str | None) -> bool:
        """True when the tenant has a deployed workflow / an ops schema."""
        return tenant is not None and tenant in self.config.tenants

    # --- batches -----------------------------------------------------------------------------

    def accept(self, intake: Intake, csv_text: str) -> BatchRecord:
        """Store a checked upload as a new batch and start its processing."""
        used = None
        if self.config.processing.channel_idempotency:
            used = self.store.used_request_ids(intake.tenant)
        batch = build_batch(
            intake,
            csv_text,
            config=self.config,
            now=self.clock.now(),
            seq=self.store.next_seq(),
            used_request_ids=used,
        )
        self.store.add(batch)
        self.workflow.track(batch)
        return batch

    def aggregate(self, batch: BatchRecord) -> Counts:
        """PHEE's ``/batch/{id}`` recompute, written back to the stored row."""
        return recompute(self.store, batch, self.clock.now())

    def advance(self, seconds: float) -> None:
        """Move the clock forward and finish every batch that became final."""
        self.clock.advance(seconds)
        self.workflow.sweep()
        self.workflow.wake()

    def complete_all(self) -> int:
        """Make every transfer final now; returns the number of batches finished."""
        return self.workflow.complete_all()

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far."""
        self.tokens.revoke_all()

    def reset(self) -> None:
        """Forget all batches, callbacks, fault counters and clock advances; keep the
        configuration."""
        self.store.clear()
        self.clock.reset()
        self.tokens.forget_revocation()
        self.workflow.reset()
        self.faults.configure(self.config.faults)
        self.faults.reseed(self.config.seed)
        self.release_hangs()

    def inspect(self, tenant: str | None = None) -> dict[str, Any]:
        """Per request_id accepted/paid counts and final status, per-tenant totals."""
        return inspect(list(self.store), self.clock.now(), tenant)

    # --- hangs -------------------------------------------------------------------------------

    def hang_release(self) -> asyncio.Event:
        """The event that ends every hanging request when set."""
        if self._hang_release is None:
            self._hang_release = asyncio.Event()
        return self._hang_release

    async def hold_upload(self) -> None:
        """Keep an accepted upload's answer back for ``processing.upload_latency_ms``, waiting on
        the loop (other requests are served meanwhile); ``release_hangs`` ends the wait early,
        so that a shutdown does not wait for it."""
        seconds = self.config.processing.upload_latency_ms / 1000
        if seconds <= 0:
            return
        self._latency_held += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self.hang_release().wait()
        finally:
            self._latency_held -= 1

    def held_requests(self) -> int:
        """How many requests a ``hang`` or ``late_store`` fault, or the upload latency, is
        holding right now."""
        return self.faults.held + self._latency_held

    def release_hangs(self) -> None:
        """Let every hanging request answer now (a held ``late_store`` upload is stored; an
        upload held by the latency is answered)."""
        if self._hang_release is not None:
            self._hang_release.set()
            self._hang_release = None
