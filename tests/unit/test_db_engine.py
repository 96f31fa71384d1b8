"""A PostgreSQL server that accepts the connection but never answers does not hang a process."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

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


def test_an_in_memory_sqlite_url_creates_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = db.make_engine("sqlite://")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
    assert list(tmp_path.iterdir()) == []  # not a file named "sqlite:" in the working folder
    on_disk = db.make_engine(f"sqlite:///{tmp_path / 'data' / 'g2p.sqlite3'}")
    assert (tmp_path / "data" / "g2p.sqlite3").stat().st_mode & 0o777 == 0o600
    on_disk.dispose()
