"""The embedded database, the secret key and batch files are owner-only (0600, folders 0700)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from g2p_payment_phee.config import _embedded_secret
from g2p_payment_phee.db import make_engine
from g2p_payment_phee.security import private_dir, write_private_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default, under which files come out 0644
    yield
    os.umask(old)


def test_the_embedded_database_and_its_folder_are_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "var" / "g2p.sqlite3"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    assert _mode(db.parent) == 0o700
    assert _mode(db) == 0o600
    for sidecar in db.parent.glob("g2p.sqlite3-*"):  # WAL and shared-memory files
        assert _mode(sidecar) == 0o600, sidecar
    engine.dispose()


def test_an_existing_shared_folder_is_left_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    engine.dispose()
    assert _mode(tmp_path) == 0o755
    assert _mode(tmp_path / "x.sqlite3") == 0o600


def test_the_generated_secret_key_and_its_folder_are_owner_only(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "secret.key"
    key = _embedded_secret(key_file)
    assert len(key) > 40
    assert (_mode(key_file.parent), _mode(key_file)) == (0o700, 0o600)
    assert _embedded_secret(key_file) == key


def test_batch_files_are_written_owner_only_even_over_an_old_file(tmp_path: Path) -> None:
    folder = private_dir(tmp_path / "demo" / "batches")
    old = folder / "b.csv"
    old.write_bytes(b"old, readable by all")
    old.chmod(0o644)
    write_private_file(old, b"id,request_id")
    assert old.read_bytes() == b"id,request_id"
    assert (_mode(folder), _mode(old)) == (0o700, 0o600)
    assert _mode(tmp_path / "demo") == 0o700  # a parent it had to create is private too


def test_a_query_in_the_url_is_not_part_of_the_file_name(tmp_path: Path) -> None:
    db = tmp_path / "q.sqlite3"
    make_engine(f"sqlite:///{db}?check_same_thread=false").dispose()
    assert [p.name for p in tmp_path.iterdir()] == ["q.sqlite3"]
    assert _mode(db) == 0o600
