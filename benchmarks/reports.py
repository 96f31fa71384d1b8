"""Benchmark: the reconciliation report of a large cycle, beside a plain CSV write of its rows.

    python benchmarks/reports.py [--rows 1000000] [--database-url URL]

A database (a fresh SQLite file by default; ``--database-url``: an empty PostgreSQL database,
migrated and filled here, left as it is) gets one approved cycle of ``--rows`` entitlements
with their registrants, batches of 500 and payments loaded in bulk, not timed: 96 % paid, 1 %
failed, 1 % failed then paid by a retry (two payments), 1 % pending at the hub, 0.5 % not
payable (no payment, a reason kept) and 0.5 % issued but not sent.

Each measurement then runs in a child process of its own, so that its peak memory (the
kernel's high-water mark of its resident memory) is its own:

- baseline: one plain query over the same joins as the report's rows (entitlements,
  registrants, the live payment and its batch, the unpayable reason), streamed, written with
  ``csv.writer``: no outcome rules, no attempts, no formats;
- the report as CSV and as XLSX (``exports.cycle_report.cycle_report``, as the command runs it).

The table gives each one's time, its ratio to the baseline's, its peak memory (target: under
300 MB whatever the size) and the file's size.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from g2p_payment_phee.bulk import bulk_insert
from g2p_payment_phee.db import make_engine, make_session_factory, migrate, utcnow
from g2p_payment_phee.exports.cycle_report import cycle_report
from g2p_payment_phee.ids import new_id
from g2p_payment_phee.payments.models import Payment, PaymentBatch, UnpayableEntitlement
from g2p_payment_phee.programs.models import Cycle, Entitlement, Program
from g2p_payment_phee.registry.models import Registrant
from g2p_payment_phee.users.models import Role, User

# Run as a script, this file's folder is on sys.path: the sibling benchmark's memory reading.
from prepare import peak_memory_mb

CHUNK = 100_000
BATCH = 500
AMOUNT = Decimal(1000)
SETTLED = datetime(2027, 1, 20, 10, 0, tzinfo=UTC)
PAYMENT_COLUMNS = (
    "id", "created_at", "entitlement_id", "cycle_id", "registrant_id", "batch_id", "batch_row",
    "amount_issued", "payment_fee", "currency", "payee_id_type", "payee_id_value", "state",
    "status", "live", "amount_paid", "sent_at", "settled_at", "failure_reason",
    "phee_transaction_id",
)  # fmt: skip
BATCH_COLUMNS = (
    "id", "created_at", "cycle_id", "sequence", "name", "correlation_id", "state", "currency",
    "file_name", "phee_batch_id", "issued_count", "issued_amount", "sent_count", "sent_amount",
    "paid_count", "paid_amount", "failed_count", "failed_amount", "send_attempts",
)  # fmt: skip


def _kind(i: int) -> str:
    """What became of beneficiary ``i``."""
    if i % 200 == 199:
        return "not_payable"
    if i % 200 == 198:
        return "not_sent"
    return {7: "failed", 13: "retried", 21: "pending"}.get(i % 100, "paid")


def seed(url: str, n: int) -> None:
    """One approved cycle of ``n`` beneficiaries and their payments, loaded in bulk."""
    engine = make_engine(url)
    migrate(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        if session.scalar(select(Registrant.id).limit(1)) is not None:
            sys.exit("the database is not empty: give an empty one (it is filled and left)")
        admin = User(username="bench", role=Role.ADMIN, password_hash="x")
        program = Program(
            name="Bench", currency="KES", target_type="individual", manager_kind="phee"
        )
        session.add_all([admin, program])
        session.flush()
        cycle = Cycle(
            program_id=program.id, name="C1", sequence=1, start_date=date(2027, 1, 1),
            end_date=date(2027, 1, 31), state="approved",
            entitlement_totals={"approved": [n, str(AMOUNT * n)]},
        )  # fmt: skip
        session.add(cycle)
        session.flush()
        for start in range(0, n, CHUNK):
            _seed_chunk(session, cycle.id, start, min(n, start + CHUNK))
        session.commit()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def _seed_chunk(session: Any, cycle_id: Any, start: int, end: int) -> None:
    now = utcnow()
    registrants, entitlements, payments, unpayable, batches = [], [], [], [], []
    for first in range(start, end, BATCH):
        batch_id, sequence = new_id(), first // BATCH + 1
        counts = {"issued": 0, "sent": 0, "paid": 0, "failed": 0}
        for i in range(first, min(end, first + BATCH)):
            rid, eid, kind = new_id(), new_id(), _kind(i)
            registrants.append((rid, now, now, f"R{i:08d}", "individual", f"Person {i}", True))
            entitlements.append((eid, now, f"E{i:010d}", cycle_id, rid, AMOUNT, "approved"))
            if kind == "not_payable":
                unpayable.append((new_id(), now, eid, cycle_id, rid, "no enabled phone number"))
                continue
            for state, status in ATTEMPTS[kind]:
                counts["issued"] += 1
                counts["sent"] += state != "issued"
                counts[status or "issued"] += bool(status)
                payments.append(_payment(i, eid, cycle_id, rid, batch_id, state, status, now))
        batches.append(_batch(batch_id, cycle_id, sequence, counts, now))
    bulk_insert(
        session,
        Registrant.__table__,
        ("id", "created_at", "updated_at", "reference", "kind", "name", "active"),
        registrants,
    )
    bulk_insert(
        session,
        Entitlement.__table__,
        ("id", "created_at", "code", "cycle_id", "registrant_id", "initial_amount", "state"),
        entitlements,
        fixed={"transfer_fee": 0, "currency": "KES"},
    )
    bulk_insert(session, PaymentBatch.__table__, BATCH_COLUMNS, batches)
    bulk_insert(session, Payment.__table__, PAYMENT_COLUMNS, payments)
    bulk_insert(
        session,
        UnpayableEntitlement.__table__,
        ("id", "created_at", "entitlement_id", "cycle_id", "registrant_id", "reason"),
        unpayable,
    )


ATTEMPTS: dict[str, list[tuple[str, str | None]]] = {
    "paid": [("reconciled", "paid")],
    "failed": [("reconciled", "failed")],
    "retried": [("reconciled", "failed"), ("reconciled", "paid")],
    "pending": [("sent", None)],
    "not_sent": [("issued", None)],
}
"""(state, status) of each payment of a beneficiary, in the order they were made."""


def _payment(
    i: int, eid: Any, cycle_id: Any, rid: Any, batch_id: Any, state: str, status: str | None,
    now: datetime,
) -> tuple[Any, ...]:  # fmt: skip
    pid, failed, paid = new_id(), status == "failed", status == "paid"
    return (
        pid, now, eid, cycle_id, rid, batch_id, i % BATCH, AMOUNT, Decimal(0), "KES", "MSISDN",
        f"+2547{i % 10**8:08d}", state, status, not failed, AMOUNT if paid else None,
        None if state == "issued" else SETTLED, SETTLED if status else None,
        "Payee FSP temporarily unavailable" if failed else None,
        str(pid)[:8] if status else None,
    )  # fmt: skip


def _batch(
    batch_id: Any, cycle_id: Any, sequence: int, counts: dict[str, int], now: datetime
) -> tuple[Any, ...]:
    return (
        batch_id, now, cycle_id, sequence, str(batch_id), str(new_id()), "submitted", "KES",
        f"{batch_id}.csv", f"PHEE-{sequence}", counts["issued"], AMOUNT * counts["issued"],
        counts["sent"], AMOUNT * counts["sent"], counts["paid"], AMOUNT * counts["paid"],
        counts["failed"], AMOUNT * counts["failed"], 1,
    )  # fmt: skip


def plain(url: str, target: Path) -> int:
    """The baseline: the rows' joins in one streamed query, written with ``csv.writer``."""
    engine = make_engine(url)
    query = text(
        "SELECT r.reference, r.name, e.code, p.payee_id_type, p.payee_id_value, "
        "e.initial_amount, p.state, p.amount_paid, p.settled_at, b.sequence, b.phee_batch_id, "
        "p.phee_transaction_id, u.reason "
        "FROM entitlements e JOIN registrants r ON r.id = e.registrant_id "
        "LEFT JOIN payments p ON p.entitlement_id = e.id AND p.live "
        "LEFT JOIN payment_batches b ON b.id = p.batch_id "
        "LEFT JOIN unpayable_entitlements u ON u.entitlement_id = e.id "
        "ORDER BY e.id"
    )
    count = 0
    with engine.connect() as conn, target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["reference", "name", "entitlement", "payee type", "payee", "amount"])
        result = conn.execution_options(stream_results=True, yield_per=10_000).execute(query)
        for partition in result.partitions():
            writer.writerows(partition)
            count += len(partition)
    engine.dispose()
    return count


def report(url: str, fmt: str, target: Path) -> int:
    """The reconciliation report as the command writes it."""
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        admin = session.scalars(select(User)).one()
        cycle = session.scalars(select(Cycle)).one()
        rows = cycle_report(session, admin, cycle, fmt, target).rows
        session.commit()
    engine.dispose()
    return rows


def child(url: str, what: str, target: Path) -> None:
    """Run one measurement; print its time, rows and this process's peak memory as JSON."""
    started = time.perf_counter()
    rows = plain(url, target) if what == "baseline" else report(url, what, target)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "what": what,
                "rows": rows,
                "seconds": seconds,
                "peak_mb": peak_memory_mb(),
                "file_mb": target.stat().st_size / 1e6,
            }
        )
    )


def measure(url: str, what: str, folder: Path) -> dict[str, Any]:
    target = folder / f"{what}.{'csv' if what == 'baseline' else what}"
    command = [sys.executable, __file__, "--child", what, "--database-url", url, str(target)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    target.unlink()
    return result


LABELS = {
    "baseline": "baseline: plain query + csv.writer",
    "csv": "report, CSV",
    "xlsx": "report, XLSX (2 sheets)",
}


def print_table(results: list[dict[str, Any]]) -> None:
    base = next(r["seconds"] for r in results if r["what"] == "baseline")
    print(f"{'':36}{'rows':>11}{'seconds':>10}{'ratio':>8}{'peak MB':>9}{'file MB':>9}")
    for r in results:
        print(
            f"{LABELS[r['what']]:36}{r['rows']:>11,}{r['seconds']:>10.1f}"
            f"{r['seconds'] / base:>7.2f}x{r['peak_mb']:>9.0f}{r['file_mb']:>9.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("target", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.database_url, args.child, Path(args.target))
        return
    folder = Path(tempfile.mkdtemp(prefix="bench_reports_"))
    url = args.database_url or f"sqlite:///{folder / 'bench.sqlite3'}"
    started = time.perf_counter()
    seed(url, args.rows)
    print(f"set-up: {args.rows:,} beneficiaries in {time.perf_counter() - started:.0f} s")
    results = [measure(url, what, folder) for what in ("baseline", "csv", "xlsx")]
    print_table(results)


if __name__ == "__main__":
    main()
