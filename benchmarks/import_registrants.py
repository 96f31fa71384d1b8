"""Benchmark: importing registrants (each with an ID, a phone and a bank account) vs a bulk insert.

    python benchmarks/import_registrants.py --n 100000 [--postgres-url URL] [--repeat 3]

For each backend the script makes its own temporary databases (SQLite files in a temporary
folder; PostgreSQL databases named ``g2p_bench_<random>``), each migrated with
``g2p_payment_phee.db.migrate``.  In one it times the importer on a generated CSV file
(reading, validation, lookups, writes and commit); in another, the baseline: a plain SQLAlchemy
Core executemany insert (chunks of 5,000) of the same registrant / ID / phone / bank account
rows, prepared beforehand.  Import and baseline alternate ``--repeat`` times and the best time of
each is kept, so that a noisy machine slows both alike.  It drops what it created and prints one
table; the target is a ratio of at most 3.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, Table, insert, make_url, text

from g2p_payment_phee.db import make_engine, make_session_factory, migrate, utcnow
from g2p_payment_phee.ids import new_id
from g2p_payment_phee.registry.importer import import_registrants
from g2p_payment_phee.registry.models import (
    Bank,
    BankAccount,
    Gender,
    IdStatus,
    IdType,
    Phone,
    Registrant,
    RegistrantId,
    RegistrantKind,
)
from g2p_payment_phee.registry.sample_data import (
    NATIONAL_ID,
    NATIONAL_ID_REGEX,
    generate_registrants_csv,
)
from g2p_payment_phee.registry.validation import normalize_phone
from g2p_payment_phee.schema import load_models
from g2p_payment_phee.security import hash_password
from g2p_payment_phee.users.models import Role, User

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 3.0
CHUNK = 5000


@dataclass
class Result:
    """One line of the table."""

    backend: str
    rows: int
    seconds: float
    baseline_seconds: float

    @property
    def ratio(self) -> float:
        return self.seconds / self.baseline_seconds


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A fresh SQLite file in a temporary folder, removed afterwards."""
    folder = tempfile.mkdtemp(prefix="g2p_bench_")
    try:
        yield f"sqlite:///{folder}/bench.sqlite3"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server, dropped afterwards."""
    url = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"g2p_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def migrated_engine(backend: str, pg_url: str) -> Iterator[Engine]:
    """An engine on a new, migrated, empty database of the backend."""
    database = sqlite_database() if backend == "sqlite" else postgres_database(pg_url)
    with database as url:
        engine = make_engine(url)
        migrate(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def time_import(engine: Engine, data: bytes) -> float:
    """Seconds to import the file and commit, as the CLI would."""
    factory = make_session_factory(engine)
    with factory() as session:
        actor = User(username="bench", role=Role.ADMIN, password_hash=hash_password("bench-pw-1"))
        session.add_all([actor, IdType(name=NATIONAL_ID, validation_regex=NATIONAL_ID_REGEX)])
        session.commit()
        started = time.perf_counter()
        report = import_registrants(session, actor, data, fmt="csv")
        session.commit()
        elapsed = time.perf_counter() - started
    if report.rejected or report.created != report.rows:
        raise SystemExit(f"import did not import every row: {report.summary()}")
    return elapsed


def time_baseline(engine: Engine, prepared: Prepared) -> float:
    """Seconds for a plain Core executemany insert of the prepared rows, in one transaction."""
    with engine.begin() as conn:
        conn.execute(insert(_table(IdType)), [prepared.id_type])
        conn.execute(insert(_table(Bank)), prepared.banks)
    started = time.perf_counter()
    with engine.begin() as conn:
        for model, rows in prepared.tables.items():
            table = _table(model)
            for start in range(0, len(rows), CHUNK):
                conn.execute(insert(table), rows[start : start + CHUNK])
    return time.perf_counter() - started


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


@dataclass
class Prepared:
    """The rows the import writes, ready for the baseline insert."""

    id_type: dict[str, Any]
    banks: list[dict[str, Any]]
    tables: dict[Any, list[dict[str, Any]]]


def baseline_rows(data: bytes) -> Prepared:
    """The rows the import writes, built straight from the file without any checks."""
    now = utcnow()
    id_type = {"id": new_id(), "created_at": now, "name": NATIONAL_ID, "description": ""}
    banks: dict[str, dict[str, Any]] = {}
    tables: dict[Any, list[dict[str, Any]]] = {
        Registrant: [],
        RegistrantId: [],
        Phone: [],
        BankAccount: [],
    }
    for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        registrant_id = new_id()
        bank = banks.setdefault(row["bank_code"], _bank(row, now))
        tables[Registrant].append(_registrant(row, registrant_id, now))
        tables[RegistrantId].append(
            {
                "id": new_id(),
                "created_at": now,
                "registrant_id": registrant_id,
                "id_type_id": id_type["id"],
                "value": row["id_value"],
                "expiry_date": date.fromisoformat(row["id_expiry"]),
                "status": IdStatus.VALID,
            }
        )
        tables[Phone].append(
            {
                "id": new_id(),
                "created_at": now,
                "registrant_id": registrant_id,
                "number": normalize_phone(row["phone"]),
                "sequence": 0,
                "disabled_at": None,
            }
        )
        tables[BankAccount].append(
            {
                "id": new_id(),
                "created_at": now,
                "registrant_id": registrant_id,
                "bank_id": bank["id"],
                "account_number": row["account_number"],
                "iban": row["iban"] or None,
                "sequence": 0,
                "active": True,
            }
        )
    return Prepared(id_type, list(banks.values()), tables)


def _bank(row: dict[str, str], now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "created_at": now,
        "code": row["bank_code"],
        "name": row["bank_name"],
        "country": row["bank_country"],
    }


def _registrant(row: dict[str, str], registrant_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    return {
        "id": registrant_id,
        "created_at": now,
        "updated_at": now,
        "reference": row["reference"],
        "kind": RegistrantKind.INDIVIDUAL,
        "name": row["name"],
        "given_name": row["given_name"],
        "family_name": row["family_name"],
        "birthdate": date.fromisoformat(row["birthdate"]),
        "gender": Gender(row["gender"]),
        "address": row["address"],
        "email": row["email"],
        "active": True,
    }


def run(backend: str, pg_url: str, data: bytes, prepared: Prepared, repeat: int) -> Result:
    """Best-of-``repeat`` import and baseline times, each run in a fresh database."""
    imports, baselines = [], []
    for _ in range(repeat):
        with migrated_engine(backend, pg_url) as engine:
            imports.append(time_import(engine, data))
        with migrated_engine(backend, pg_url) as engine:
            baselines.append(time_baseline(engine, prepared))
    rows = len(prepared.tables[Registrant])
    return Result(backend, rows, min(imports), min(baselines))


def print_table(results: list[Result]) -> None:
    """The table: backend, rows, seconds, rows/s, baseline seconds and rows/s, ratio."""
    header = (
        f"{'backend':<10} {'rows':>8} {'seconds':>8} {'rows/s':>8} "
        f"{'baseline s':>10} {'base rows/s':>11} {'ratio':>6}  target <= {TARGET_RATIO:g}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        verdict = "ok" if r.ratio <= TARGET_RATIO else "MISSED"
        print(
            f"{r.backend:<10} {r.rows:>8} {r.seconds:>8.2f} {r.rows / r.seconds:>8.0f} "
            f"{r.baseline_seconds:>10.2f} {r.rows / r.baseline_seconds:>11.0f} "
            f"{r.ratio:>6.2f}  {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100_000, help="registrants to import")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("G2P_TEST_POSTGRES_URL", DEFAULT_PG_URL),
        help="a PostgreSQL server URL; the benchmark creates and drops its own database",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    args = parser.parse_args()
    load_models()
    data = generate_registrants_csv(args.n, args.seed, 0.0)
    prepared = baseline_rows(data)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(
        f"{args.n} registrants ({len(data) / 1e6:.1f} MB of CSV), each with an ID, a phone and "
        f"a bank account; best of {args.repeat}"
    )
    results = [run(b, args.postgres_url, data, prepared, args.repeat) for b in backends]
    print_table(results)


if __name__ == "__main__":
    main()
