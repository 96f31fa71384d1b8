"""Run the emulator in-process: uvicorn in a background thread on a free loopback port.

>>> with EmulatorServer() as hub:                       # doctest: +SKIP
...     httpx.get(f"{hub.base_url}/actuator/health")
...     hub.set_faults({"rules": [{"kind": "drop", "endpoints": ["upload"], "times": 1}]})
...     hub.inspect()["paid_more_than_once"]

Startup is awaited through an event set by the server's own startup hook (no sleeps). Every
admin helper runs on the server's event loop, so tests may call them from any thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from .app import create_app
from .config import EmulatorConfig, FaultConfig, OutcomeConfig, merge_patch
from .faults import tracking_protocol
from .state import EmulatorState

T = TypeVar("T")


class EmulatorUvicorn(uvicorn.Server):
    """uvicorn server that releases held requests (``hang``, ``late_store``) when it shuts
    down, before it waits for running requests: a held upload is then stored and answered
    instead of being cancelled at the end of the graceful-shutdown timeout."""

    def __init__(self, config: uvicorn.Config, state: EmulatorState) -> None:
        super().__init__(config)
        self._state = state

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._state.release_hangs()
        await super().shutdown(sockets)


class _ThreadedServer(EmulatorUvicorn):
    """uvicorn server that reports readiness (or failure) through a threading event."""

    def __init__(self, config: uvicorn.Config, state: EmulatorState) -> None:
        super().__init__(config, state)
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()


def uvicorn_config(app: FastAPI, **options: Any) -> uvicorn.Config:
    """A uvicorn config whose HTTP protocol lets the drop-connection fault reset sockets."""
    state: EmulatorState = app.state.emulator
    options.setdefault("log_config", None)
    options.setdefault("access_log", False)
    options.setdefault("timeout_graceful_shutdown", 2)
    return uvicorn.Config(app, http=tracking_protocol(state.connections), lifespan="on", **options)


class EmulatorServer:
    """A PHEE emulator served on ``host:port`` (port 0 picks a free one) from a thread."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self.port = port
        self._log_level = log_level
        self._server: _ThreadedServer | None = None
        self._thread: threading.Thread | None = None
        self.app: FastAPI | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server (both PHEE faces and admin)."""
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> EmulatorState:
        """The live state; prefer the helper methods, which run on the server's loop."""
        if self.app is None:
            raise RuntimeError("emulator not started")
        state: EmulatorState = self.app.state.emulator
        return state

    def start(self, timeout: float = 15.0) -> EmulatorServer:
        """Bind, start serving in a background thread, and return once ready."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then (else 40 ms
        # delayed-ACK stalls on every request).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self.app = create_app(self.config)
        server = _ThreadedServer(
            uvicorn_config(self.app, log_level=self._log_level), self.app.state.emulator
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="phee-emulator", daemon=True
        )
        self._thread.start()
        if not server.ready.wait(timeout) or not server.started:
            self.stop()
            raise RuntimeError("PHEE emulator did not start")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down (held requests are released first; held ``late_store``
        uploads are stored) and wait for its thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        # The server's shutdown releases held requests first (EmulatorUvicorn.shutdown).
        server.should_exit = True
        thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def call(self, fn: Callable[[EmulatorState], T], timeout: float = 30.0) -> T:
        """Run ``fn(state)`` on the server's event loop and return its result."""
        if self._server is None or self._server.loop is None:
            raise RuntimeError("emulator not started")

        async def run() -> T:
            return fn(self.state)

        return asyncio.run_coroutine_threadsafe(run(), self._server.loop).result(timeout)

    # --- admin helpers (same as the /_emulator endpoints) --------------------------------------

    def set_faults(self, faults: FaultConfig | dict[str, Any]) -> None:
        """Replace the fault settings (rules restart their counters)."""
        model = FaultConfig.model_validate(faults)
        self.call(lambda state: state.set_faults(model))

    def clear_faults(self) -> None:
        """No faults at all."""
        self.set_faults(FaultConfig())

    def set_outcomes(self, outcomes: OutcomeConfig | dict[str, Any]) -> None:
        """Replace the outcome settings (for batches accepted from now on)."""
        model = OutcomeConfig.model_validate(outcomes)
        self.call(lambda state: state.set_outcomes(model))

    def update_config(self, patch: dict[str, Any]) -> EmulatorConfig:
        """Change configuration sections at run time (see :func:`merge_patch`)."""

        def apply(state: EmulatorState) -> EmulatorConfig:
            state.reconfigure(merge_patch(state.config, patch))
            return state.config

        return self.call(apply)

    def inspect(self, tenant: str | None = None) -> dict[str, Any]:
        """Per request_id accepted/paid counts and final status; per-tenant totals."""
        return self.call(lambda state: state.inspect(tenant))

    def request_status(self, request_id: str) -> dict[str, Any] | None:
        """What happened to one request_id, or None if never seen."""
        found: dict[str, Any] | None = self.inspect()["request_ids"].get(request_id)
        return found

    def callbacks(self) -> list[dict[str, Any]]:
        """Every callback attempt so far."""
        return self.call(lambda state: [c.to_json() for c in state.workflow.callbacks])

    def wait_for_callbacks(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` callback attempts were made; all attempts so far."""
        if self._server is None or self._server.loop is None:
            raise RuntimeError("emulator not started")
        waiting = self.state.workflow.wait_for_callbacks(count, timeout)
        future = asyncio.run_coroutine_threadsafe(waiting, self._server.loop)
        return [record.to_json() for record in future.result(timeout + 1)]

    def settle_callbacks(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until no callback is in flight; all attempts so far."""
        if self._server is None or self._server.loop is None:
            raise RuntimeError("emulator not started")
        future = asyncio.run_coroutine_threadsafe(self.state.workflow.settle(), self._server.loop)
        future.result(timeout)
        return self.callbacks()

    def reset(self) -> None:
        """Forget all batches, callbacks and fault counters."""
        self.call(lambda state: state.reset())

    def advance(self, seconds: float) -> None:
        """Move the emulator clock forward and finish batches that became final."""
        self.call(lambda state: state.advance(seconds))

    def complete_all(self) -> int:
        """Make every transfer final now; returns the number of batches finished."""
        return self.call(lambda state: state.complete_all())

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far."""
        self.call(lambda state: state.expire_tokens())

    def release_hangs(self) -> None:
        """Let every hanging request answer now; held ``late_store`` uploads are stored."""
        self.call(lambda state: state.release_hangs())

    def held_requests(self) -> int:
        """How many requests a ``hang`` or ``late_store`` fault is holding right now."""
        return self.call(lambda state: state.held_requests())

    def wait_for_held(self, count: int, timeout: float = 5.0) -> int:
        """Poll until at least ``count`` requests are held; the number held.

        Call it before :meth:`release_hangs` so that the release cannot come before the
        request reached its hold (it would then wait its full ``seconds``).
        """
        deadline = time.monotonic() + timeout
        while (held := self.held_requests()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{held} request(s) held, expected {count}")
            time.sleep(0.01)
        return held
