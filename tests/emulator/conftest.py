"""Fixtures for the emulator tests: the shared reference files, a live emulator over loopback,
an HTTP client, and a callback receiver. Nothing here sleeps to synchronise."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from g2p_payment_phee.emulator import EmulatorConfig, EmulatorServer

from .support import CallbackReceiver

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE = REPO_ROOT / ".." / "shared" / "reference"
GORILLA = {"Platform-TenantId": "gorilla"}


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``<repo>/../shared/reference``; fails loudly when the shared folder is missing."""
    path = REFERENCE.resolve()
    if (
        not (path / "phee-fixtures").is_dir()
        or not (path / "phee-signature-vectors.json").is_file()
    ):
        pytest.fail(
            f"PHEE reference files not found at {path} (expected <repo>/../shared/reference)"
        )
    return path


@pytest.fixture(scope="session")
def fixtures_dir(reference_dir: Path) -> Path:
    """The PHEE peer-test CSV files."""
    return reference_dir / "phee-fixtures"


@pytest.fixture(scope="session")
def vectors(reference_dir: Path) -> dict[str, Any]:
    """``phee-signature-vectors.json``."""
    data: dict[str, Any] = json.loads((reference_dir / "phee-signature-vectors.json").read_text())
    return data


@pytest.fixture(scope="session")
def _shared_hub() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def hub(_shared_hub: EmulatorServer) -> Iterator[EmulatorServer]:
    """A running emulator with default configuration and no batches."""
    defaults = EmulatorConfig()
    _shared_hub.call(lambda state: state.reconfigure(defaults))
    _shared_hub.reset()
    yield _shared_hub
    _shared_hub.call(lambda state: state.reconfigure(defaults))
    _shared_hub.reset()


@pytest.fixture(scope="session")
def _shared_client(_shared_hub: EmulatorServer) -> Iterator[httpx.Client]:
    # One client for the session: building an httpx.Client (TLS context) costs ~50 ms.
    with httpx.Client(base_url=_shared_hub.base_url, timeout=10) as http:
        yield http


@pytest.fixture
def client(hub: EmulatorServer, _shared_client: httpx.Client) -> httpx.Client:
    """HTTP client bound to the (freshly reset) shared emulator."""
    return _shared_client


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    """Collects batch callbacks."""
    inbox: queue.Queue[dict[str, Any]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            inbox.put({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield CallbackReceiver(f"http://127.0.0.1:{server.server_address[1]}/callback", inbox)
    finally:
        server.shutdown()
        server.server_close()
