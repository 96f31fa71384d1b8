"""Benchmark: prepare_payments at scale, beside a baseline measured in the same run.

    python benchmarks/prepare.py --n 100000 1000000 [--backend sqlite postgres]

For each backend and N: a fresh database with N approved entitlements (registrants with a
phone, loaded in bulk, not timed); then prepare (PHEE manager, batches of 500, CSV files
stored) runs in a child process so that its peak memory is its own. Baseline: the same N
payment rows copied into an empty table with the payments table's definition (columns,
indexes, checks) — ``COPY`` on PostgreSQL, one ``executemany`` on SQLite.
Targets (SPEC 8): PostgreSQL ≥ 50,000 payments/s and ≤ 3× the COPY; SQLite ≥ 25,000/s;
peak memory < 300 MB; 1M at most 11× the time of 100k.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from g2p_payment_phee.bulk import bulk_insert
from g2p_payment_phee.db import make_engine, make_session_factory, migrate, utcnow
from g2p_payment_phee.ids import new_id
from g2p_payment_phee.payments.config_service import configure_manager, load_manager
from g2p_payment_phee.programs.models import (
    Cycle,
    Entitlement,
    ManagerKind,
    Program,
    ProgramMembership,
)
from g2p_payment_phee.registry.models import Phone, Registrant
from g2p_payment_phee.users.models import Role, User

PG_ADMIN = os.environ.get("G2P_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_url(name: str) -> str:
    base = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1)
    return base.rsplit("/", 1)[0] + "/" + name


def setup(url: str, n: int) -> None:
    """A migrated database with one approved cycle of n entitlements (bulk-loaded), with the
    product's own time-ordered ids: registrants in the order they were imported, each cycle's
    entitlements in registrant order (as ``generate_entitlements`` makes them)."""
    engine = make_engine(url)
    migrate(engine)
    now = utcnow()
    with make_session_factory(engine)() as session:
        admin = User(username="bench", role=Role.ADMIN, password_hash="x")
        program = Program(
            name="Bench", currency="KES", target_type="individual", manager_kind="phee"
        )
        session.add_all([admin, program])
        session.flush()
        cycle = Cycle(
            program_id=program.id,
            name="C1",
            sequence=1,
            start_date=date(2027, 1, 1),
            end_date=date(2027, 1, 31),
            state="approved",
            # as approve_cycle leaves it: the n entitlements below, 1000 each
            entitlement_totals={"approved": [n, str(1000 * n)]},
        )
        session.add(cycle)
        session.flush()
        configure_manager(
            session,
            admin,
            program,
            ManagerKind.PHEE,
            {"tenant_id": "gorilla", "payee_id_type": "phone"},
        )
        for start in range(0, n, 100_000):
            registrants, phones, members, entitlements = [], [], [], []
            for i in range(start, min(n, start + 100_000)):
                rid = new_id()
                registrants.append((rid, now, now, f"R{i:08d}", "individual", f"Person {i}", True))
                phones.append((new_id(), now, rid, f"+2547{i % 10**8:08d}", 0))
                members.append((new_id(), now, program.id, rid, "enrolled"))
                entitlements.append(
                    (new_id(), now, f"E{i:010d}", cycle.id, rid, 1000, 0, "KES", "approved")
                )
            bulk_insert(
                session,
                Registrant.__table__,
                ("id", "created_at", "updated_at", "reference", "kind", "name", "active"),
                registrants,
            )
            bulk_insert(
                session,
                Phone.__table__,
                ("id", "created_at", "registrant_id", "number", "sequence"),
                phones,
            )
            bulk_insert(
                session,
                ProgramMembership.__table__,
                ("id", "created_at", "program_id", "registrant_id", "state"),
                members,
            )
            bulk_insert(
                session,
                Entitlement.__table__,
                (
                    "id",
                    "created_at",
                    "code",
                    "cycle_id",
                    "registrant_id",
                    "initial_amount",
                    "transfer_fee",
                    "currency",
                    "state",
                ),
                entitlements,
            )
        session.commit()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def child(url: str) -> None:
    """Run prepare once and print its time and this process's peak memory as JSON."""
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        admin = session.query(User).one()
        cycle = session.query(Cycle).one()
        manager = load_manager(session, cycle.program)
        started = time.perf_counter()
        report = manager.prepare(session, admin, cycle)
        session.commit()
        elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "created": report.created,
                "batches": report.batches,
                "bytes": report.file_bytes,
                "peak_mb": peak_memory_mb(),
            }
        )
    )


def peak_memory_mb() -> float:
    """This process's peak resident memory. Linux's ``ru_maxrss`` survives ``execve``: in a child
    started by a parent that had grown (the set-up of a million rows) it reports the parent's
    peak, so the kernel's high-water mark of this process's own memory (``VmHWM``) is used."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(url: str) -> float:
    """Seconds to insert the same payment rows into an empty table of the same definition."""
    engine = make_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("CREATE TABLE baseline_payments (LIKE payments INCLUDING ALL)"))
            driver = conn.connection.driver_connection
            buffer = io.BytesIO()
            with driver.cursor() as cur, cur.copy("COPY payments TO STDOUT") as copy:  # type: ignore[union-attr]
                for block in copy:
                    buffer.write(block)
            data = buffer.getvalue()
            started = time.perf_counter()
            with driver.cursor() as cur, cur.copy("COPY baseline_payments FROM STDIN") as copy:  # type: ignore[union-attr]
                for i in range(0, len(data), 1 << 20):
                    copy.write(data[i : i + (1 << 20)])
            return time.perf_counter() - started
        rows = [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM payments").fetchall()]
        ddl = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'payments'"
        ).fetchall()
        for (statement,) in ddl:
            if statement:
                conn.exec_driver_sql(
                    statement.replace("payments", "baseline_payments", 1)
                    .replace(" ON payments ", " ON baseline_payments ")
                    .replace("uq_payments_", "uq_bl_")
                    .replace("ix_payments_", "ix_bl_")
                )
        marks = ", ".join("?" for _ in rows[0])
        started = time.perf_counter()
        conn.exec_driver_sql(f"INSERT INTO baseline_payments VALUES ({marks})", rows)
        return time.perf_counter() - started


def run_case(backend: str, n: int) -> dict[str, Any]:
    if backend == "postgres":
        name = f"bench_prepare_{uuid.uuid4().hex[:8]}"
        admin = create_engine(
            PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = _pg_url(name)
    else:
        folder = tempfile.mkdtemp(prefix="bench_prepare_")
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
    try:
        setup(url, n)
        out = subprocess.run(
            [sys.executable, __file__, "--child", url], check=True, capture_output=True, text=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        base = baseline(url)
    finally:
        if backend == "postgres":
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return {"backend": backend, "n": n, **result, "baseline": base}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--backend", nargs="+", default=["postgres", "sqlite"], choices=["postgres", "sqlite"]
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    results = [run_case(b, n) for b in args.backend for n in args.n]
    print_table(results)


COLUMNS = (
    ("backend", 9, "{backend}"),
    ("payments", 10, "{created:,}"),
    ("seconds", 9, "{seconds:.2f}"),
    ("pay/s", 9, "{rate:,.0f}"),
    ("batches", 9, "{batches:,}"),
    ("CSV MB", 8, "{csv_mb:.1f}"),
    ("peak MB", 9, "{peak_mb:.0f}"),
    ("baseline s", 11, "{baseline:.2f}"),
    ("ratio", 7, "{ratio:.2f}"),
)


def print_table(results: list[dict[str, Any]]) -> None:
    """The results, one line per case, then the growth from the smallest to the largest N."""
    print("".join(f"{title:>{width}}" for title, width, _ in COLUMNS))
    for r in results:
        values = {
            **r,
            "rate": r["created"] / r["seconds"],
            "csv_mb": r["bytes"] / 1e6,
            "ratio": r["seconds"] / r["baseline"],
        }
        print("".join(f"{fmt.format(**values):>{width}}" for _, width, fmt in COLUMNS))
    for backend in sorted({r["backend"] for r in results}):
        by_n = {r["n"]: r["seconds"] for r in results if r["backend"] == backend}
        if len(by_n) >= 2:
            small, large = min(by_n), max(by_n)
            growth = by_n[large] / by_n[small]
            print(f"{backend}: {large:,} took {growth:.1f}x the time of {small:,}")


if __name__ == "__main__":
    main()
