"""Batches in memory, optionally written through to a SQLite file so a restart keeps them.

All access happens on the server's event loop thread; the SQLite connection is opened with
``check_same_thread=False`` only because it is created before the loop starts.
"""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .csvfile import request_ids
from .models import BatchRecord, Chunk, Outcome, Tally

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
    " tenant TEXT NOT NULL, meta TEXT NOT NULL, csv_text TEXT NOT NULL, outcomes BLOB NOT NULL,"
    " row_chunks BLOB NOT NULL, reasons TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


class Store:
    """Accepted batches by id and by tenant, in acceptance order."""

    def __init__(self, sqlite_path: Path | None = None) -> None:
        self._batches: dict[str, BatchRecord] = {}
        self._by_tenant: dict[str, list[BatchRecord]] = {}
        self._sub_batches: dict[str, tuple[BatchRecord, int]] = {}
        self._used_ids: dict[str, set[str]] = {}
        self._seq = 0
        self._db: sqlite3.Connection | None = None
        if sqlite_path is not None:
            self._open(sqlite_path)

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        for row in self._db.execute("SELECT * FROM batches ORDER BY seq"):
            self._index(_from_row(row))

    @property
    def persistent(self) -> bool:
        """True when batches survive a restart."""
        return self._db is not None

    def next_seq(self) -> int:
        """A new, increasing sequence number for a batch."""
        self._seq += 1
        return self._seq

    def add(self, batch: BatchRecord) -> None:
        """Keep a newly accepted batch (and write it to SQLite when configured)."""
        self._index(batch)
        if self._db is not None:
            self._db.execute("INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _to_row(batch))

    def _index(self, batch: BatchRecord) -> None:
        self._batches[batch.batch_id] = batch
        self._by_tenant.setdefault(batch.tenant, []).append(batch)
        for number, chunk in enumerate(batch.chunks):
            if chunk.sub_batch_id is not None:
                self._sub_batches[chunk.sub_batch_id] = (batch, number)
        self._seq = max(self._seq, batch.seq)

    def save(self, batch: BatchRecord) -> None:
        """Persist the mutable fields of ``batch`` (snapshot, stamps, flags)."""
        if self._db is not None:
            self._db.execute(
                "UPDATE batches SET meta = ? WHERE batch_id = ?",
                (json.dumps(_meta(batch)), batch.batch_id),
            )

    def get(self, batch_id: str, tenant: str | None = None) -> BatchRecord | None:
        """The batch, or None (also when it belongs to another tenant)."""
        batch = self._batches.get(batch_id)
        if batch is None or (tenant is not None and batch.tenant != tenant):
            return None
        return batch

    def sub_batch(self, sub_batch_id: str) -> tuple[BatchRecord, int] | None:
        """The parent batch and chunk number of a sub-batch id."""
        return self._sub_batches.get(sub_batch_id)

    def for_tenant(self, tenant: str) -> list[BatchRecord]:
        """The tenant's batches, oldest first."""
        return self._by_tenant.get(tenant, [])

    def __iter__(self) -> Iterator[BatchRecord]:
        return iter(list(self._batches.values()))

    def __len__(self) -> int:
        return len(self._batches)

    def used_request_ids(self, tenant: str) -> set[str]:
        """request_ids of the tenant already handed to the channel (built on first use)."""
        used = self._used_ids.get(tenant)
        if used is None:
            used = set()
            for batch in self.for_tenant(tenant):
                for index, rid in enumerate(request_ids(batch.csv_text)):
                    if Outcome(batch.outcomes[index]).accepted_for_payment:
                        used.add(rid)
            self._used_ids[tenant] = used
        return used

    def clear(self) -> None:
        """Forget every batch (and empty the SQLite tables)."""
        self._batches.clear()
        self._by_tenant.clear()
        self._sub_batches.clear()
        self._used_ids.clear()
        self._seq = 0
        if self._db is not None:
            self._db.execute("DELETE FROM batches")

    def get_meta(self, key: str) -> str | None:
        """A persisted setting (e.g. the token signing secret), or None."""
        if self._db is None:
            return None
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Persist a setting when SQLite is configured."""
        if self._db is not None:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def close(self) -> None:
        """Close the SQLite connection."""
        if self._db is not None:
            self._db.close()
            self._db = None


def _meta(batch: BatchRecord) -> dict[str, Any]:
    return {
        "correlation_id": batch.correlation_id,
        "purpose": batch.purpose,
        "file_name": batch.file_name,
        "callback_url": batch.callback_url,
        "registering_institution_id": batch.registering_institution_id,
        "program_id": batch.program_id,
        "payer_override": batch.payer_override,
        "started_at": batch.started_at,
        "due_at": batch.due_at,
        "chunks": [[c.sub_batch_id, c.mode, c.tally.to_list()] for c in batch.chunks],
        "tally": batch.tally.to_list(),
        "snapshot_at": batch.snapshot_at,
        "completed_at": batch.completed_at,
        "aggregated": batch.aggregated,
        "finished": batch.finished,
    }


def _to_row(batch: BatchRecord) -> tuple[Any, ...]:
    return (
        batch.batch_id,
        batch.seq,
        batch.tenant,
        json.dumps(_meta(batch)),
        batch.csv_text,
        bytes(batch.outcomes),
        batch.row_chunks.tobytes(),
        json.dumps({str(k): v for k, v in batch.reasons.items()}),
    )


def _from_row(row: tuple[Any, ...]) -> BatchRecord:
    batch_id, seq, tenant, meta_text, csv_text, outcomes, chunk_bytes, reasons_text = row
    meta = json.loads(meta_text)
    row_chunks = array("i")
    row_chunks.frombytes(chunk_bytes)
    override = meta["payer_override"]
    return BatchRecord(
        batch_id=batch_id,
        seq=seq,
        tenant=tenant,
        correlation_id=meta["correlation_id"],
        purpose=meta["purpose"],
        file_name=meta["file_name"],
        callback_url=meta["callback_url"],
        registering_institution_id=meta["registering_institution_id"],
        program_id=meta["program_id"],
        payer_override=None if override is None else (override[0], override[1]),
        started_at=meta["started_at"],
        due_at=meta["due_at"],
        csv_text=csv_text,
        outcomes=bytearray(outcomes),
        row_chunks=row_chunks,
        reasons={int(k): v for k, v in json.loads(reasons_text).items()},
        chunks=[Chunk(c[0], c[1], Tally.from_list(c[2])) for c in meta["chunks"]],
        tally=Tally.from_list(meta["tally"]),
        snapshot_at=meta["snapshot_at"],
        completed_at=meta["completed_at"],
        aggregated=meta["aggregated"],
        finished=meta["finished"],
    )
