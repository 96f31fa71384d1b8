"""A PostgreSQL server that accepts the connection but never answers does not hang a process."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from g2p_payment_phee import db


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port whose kernel completes the handshake while nobody ever reads or answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def test_connecting_to_a_silent_server_gives_up(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "CONNECT_TIMEOUT_SECONDS", 1)
    engine = db.make_engine(f"postgresql://nobody@127.0.0.1:{silent_server}/none")
    started = time.monotonic()
    with pytest.raises(OperationalError), engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert time.monotonic() - started < 15  # without the timeout libpq waits forever
    engine.dispose()
