"""Benchmark: send a cycle's batches to the PHEE emulator and sync their statuses (SPEC 8).

    python benchmarks/send_sync.py [--batches 2000] [--rows 500] [--backend postgres|sqlite]
                                   [--hub-latency MS]

A fresh database (PostgreSQL database created and dropped here, at ``G2P_TEST_POSTGRES_URL``'s
server, by default ``postgresql://postgres@127.0.0.1:5432/postgres``; or a temporary SQLite
file) with batches x rows approved entitlements, loaded in bulk by ``prepare.setup`` (not
timed); the emulator runs in its own process (``python -m g2p_payment_phee.emulator``), so the
client side does not share a GIL with it; ``prepare_cycle`` is timed and printed, not compared.
``--hub-latency MS`` sets the emulators' ``processing.upload_latency_ms``: each accepted upload
is stored at once and answered MS milliseconds later, as a hub that saves the file and starts a
workflow first (a wait on the emulator's event loop; no other endpoint waits).

Send: ``send_cycle`` for every batch (one upload at a time: concurrency 1, as the product's send
uploads), in ``SEND_PAIRS`` consecutive segments of the batches. Beside each segment its
baseline runs: a bare ``httpx.Client`` loop posting the same stored CSV files (read from the
database first, not timed) as the same multipart part with the same headers and a bearer token,
one at a time, each under a fresh correlation id, to a second emulator process configured alike,
the upload latency included (so that neither side finds the other's batches at its hub, the
hub's inspection counts each request_id once, and both hubs fill up alike). The bare loop goes
first on even segments and second on odd ones, so that a drift of this noisy machine weighs on
both sides alike. Target: the sum of the send segments <= 1.05x the sum of the bare ones when
the hub takes ``LATENT_HUB_MS`` (50) ms or more per upload, <= 1.5x otherwise (each pair's
ratio is printed too).

Sync: every transfer is made final at the emulator (``POST /_emulator/complete-all``), then
``sync_cycle`` is timed end to end. Its baseline is a bare read loop: a plain ``httpx.Client``
with the same headers and a bearer token GETs, batch by batch with the sync's concurrency (one
batch at a time), the URLs the product's client reads (``GET /api/v1/batch/{id}``, then
``GET /api/v1/batch/detail?batchId&pageNo&pageSize`` from page 0 with the client's page size
until the page that says it is the last), from the same emulator, decoding each answer's JSON;
the PHEE batch ids are read from the database first (not timed). It runs once just before the
sync and once just after; the mean of the two is the baseline. Target: sync end to end <= 1.5x
that. The sync's database work is the time spent in ``reconcile_batches`` (wrapped in this
process: the payments made final and the batch counters, the outcomes' COPY text built in
Python included). It runs on the sync's database thread while the next batches are read, and is
wall time: it includes waiting for the cores those reads use. Baseline: a ``COPY`` of the same
number of (id, status, amount_paid, reason, settled_at) rows, taken from the synced payments,
into an empty temporary table (on SQLite one ``executemany`` INSERT), best of three. For
reference, the same rows are also copied into an empty *logged* table keyed by id (what any
durable store of the statuses writes at least: WAL and a primary key; a temporary table writes
neither), and, on PostgreSQL, the synced payments' whole rows into an empty table of the
payments table's definition (the baseline of the prepare benchmark, whose target reads the same
way: the rows the sync rewrites, written once); SPEC 8's target is database work <= 3x that
COPY. A breakdown of where send and sync spend their time follows, then the emulator's own count
of request_ids accepted more than once (must be 0).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import Engine, create_engine, func, select, text

from g2p_payment_phee.db import make_engine, make_session_factory, unit_of_work
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reports import SendOutcome
from g2p_payment_phee.phee import send as phee_send
from g2p_payment_phee.phee import sync as phee_sync
from g2p_payment_phee.phee.client import PheeClient
from g2p_payment_phee.programs.models import Cycle, ManagerKind
from g2p_payment_phee.users.models import User

# Run as a script, this file's folder is on sys.path: the sibling benchmark's bulk set-up.
from prepare import PG_ADMIN, _pg_url, setup

TENANT = "gorilla"
BASIC = "Basic Y2xpZW50Og=="  # the emulator's default client "client" with an empty secret
PURPOSE = "G2P Payment"
FAILURE_RATE = 0.02  # some payments fail, so that reasons are written too
FILE_CHUNK = 200  # baseline files read from the database this many at a time
COPY_REPEATS = 3  # the COPY baseline is short and noisy on a shared machine: best of three
SEND_PAIRS = 4  # send and its baseline alternate over this many segments of the batches
LATENT_HUB_MS = 50  # from this upload latency on, SPEC 8's send target is 1.05x, else 1.5x
# The detail pages' size the product's client asks for, so that the bare reads get its pages.
DETAIL_PAGE = int(inspect.signature(PheeClient.batch_details).parameters["page_size"].default)


# --- the emulator in its own process -----------------------------------------------------------


class EmulatorProcess:
    """``python -m g2p_payment_phee.emulator`` on a free loopback port; ready once its
    ``/actuator/health`` answers."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        config_path = workdir / "emulator.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        self.log_path = workdir / "emulator.log"
        self._log = self.log_path.open("w", encoding="utf-8")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [sys.executable, "-m", "g2p_payment_phee.emulator", "--port", str(self.port)]
        command += ["--config", str(config_path), "--log-level", "warning"]
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.admin = httpx.Client(base_url=self.base_url, timeout=600)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited at start:\n{self._log_tail()}")
            try:
                if self.admin.get("/actuator/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the emulator did not answer within {timeout} s:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.admin.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.admin.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def hub_settings(base: str, rows: int) -> tuple[dict[str, object], dict[str, str | None]]:
    """The PHEE manager's settings against the emulator (as the demo configures it)."""
    settings: dict[str, object] = {
        "tenant_id": TENANT,
        "payee_id_type": "phone",
        "payer_id_type": "ACCOUNT_ID",
        "payer_id": "1010101010",
        "max_batch_size": rows,
        "auth_endpoint_url": f"{base}/oauth/token",
        "payment_endpoint_url": f"{base}/batchtransactions",
        "status_endpoint_url": f"{base}/api/v1/batch",
        "details_endpoint_url": f"{base}/api/v1/batch/detail",
        "username": "mifos",
    }
    return settings, {"password": "password", "authorization": BASIC}


# --- timing the parts of send and sync ---------------------------------------------------------


@dataclass
class Timers:
    """Wall time and the calling thread's CPU time accumulated per wrapped function;
    ``restore`` puts the originals back."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter[str] = field(default_factory=Counter)
    process_cpu: float = 0.0  # the whole client process (every thread), while measured
    main_cpu: float = 0.0  # the calling thread alone
    _undo: list[tuple[Any, str, Any]] = field(default_factory=list)

    def wrap(self, owner: Any, name: str, key: str) -> None:
        original = getattr(owner, name, None)
        if original is None:  # renamed in the code under test: that part is not broken down
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[key] += time.perf_counter() - started
                self.cpu[key] += time.thread_time() - cpu
                self.calls[key] += 1

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    @contextlib.contextmanager
    def measuring(self) -> Iterator[None]:
        """Add the process's and the calling thread's CPU time while inside."""
        process, main = time.process_time(), time.thread_time()
        try:
            yield
        finally:
            self.process_cpu += time.process_time() - process
            self.main_cpu += time.thread_time() - main

    def restore(self) -> None:
        while self._undo:
            owner, name, original = self._undo.pop()
            setattr(owner, name, original)


SEND_PARTS = (
    # (owner, attribute, label): what send_cycle calls, by the names it uses. Claims and records
    # run on the send's database thread, the upload starts on a thread of their own, beside the
    # uploads: their wall time overlaps the uploads'; their CPU time is what they take from the
    # process's one GIL and the machine's cores.
    (PheeClient, "upload_batch", "upload (HTTP, client incl.)"),
    (phee_send, "_claim_chunk", "db thread: claim + read files"),
    (phee_send, "_record_chunk", "db thread: record answers"),
    (phee_send, "_arm", "db thread (arm): upload starts"),
)
DB_THREAD = "db thread"
SYNC_PARTS = (
    (phee_sync, "watch_duplicates", "duplicates check (batch list + db)"),
    (phee_sync, "_targets", "batches to read (db, main thread)"),
    (PheeClient, "batch_summary", "summary (HTTP)"),
    (phee_sync, "_read_details", "details (HTTP + parse)"),
    # Applies run on sync's database thread while the next batches are read.
    (phee_sync, "_apply", "db thread: apply outcomes (_apply)"),
    (phee_sync, "reconcile_batches", "  of which: reconcile_batches"),
)

DB_PARTS = ("  of which: reconcile_batches",)
READ_PARTS = ("summary (HTTP)", "details (HTTP + parse)")  # what the bare read loop does


def timed_run(
    parts: tuple[tuple[Any, str, str], ...], run: Callable[[], Any]
) -> tuple[Any, float, Timers]:
    timers = Timers()
    for owner, name, label in parts:
        timers.wrap(owner, name, label)
    try:
        started = time.perf_counter()
        with timers.measuring():
            result = run()
        return result, time.perf_counter() - started, timers
    finally:
        timers.restore()


# --- the send baseline ---------------------------------------------------------------------------


def stored_files(
    engine: Engine, cycle_id: uuid.UUID, ids: list[uuid.UUID] | None = None
) -> Iterator[list[tuple[str, bytes]]]:
    """The cycle's stored batch files (or those of the batches ``ids``) in send order,
    ``FILE_CHUNK`` at a time."""
    factory = make_session_factory(engine)
    last = -1
    while True:
        query = select(PaymentBatch.sequence, PaymentBatch.file_name, PaymentBatch.csv_data).where(
            PaymentBatch.cycle_id == cycle_id, PaymentBatch.sequence > last
        )
        if ids is not None:
            query = query.where(PaymentBatch.id.in_(ids))
        with factory() as session:
            rows = session.execute(query.order_by(PaymentBatch.sequence).limit(FILE_CHUNK)).all()
        if not rows:
            return
        last = rows[-1][0]
        chunk = []
        for _, name, data in rows:
            assert data is not None, f"batch file {name} was not stored at prepare"
            chunk.append((name, bytes(data)))
        yield chunk


def hub_token(emulator: EmulatorProcess) -> str:
    """A bearer token from the emulator, fetched as the bare loops' one setup step."""
    answer = httpx.post(
        f"{emulator.base_url}/oauth/token",
        params={"username": "mifos", "password": "password", "grant_type": "password"},
        headers={"Authorization": BASIC, "Platform-TenantId": TENANT},
    )
    return str(answer.json()["access_token"])


def post_file(client: httpx.Client, url: str, name: str, data: bytes) -> int:
    """One bare upload: the file as the multipart part ``data``, a fresh correlation id; the
    answer's status code."""
    headers = {
        "X-CorrelationID": str(uuid.uuid4()),
        "Type": "csv",
        "Purpose": PURPOSE,
        "filename": name,
    }
    return client.post(url, headers=headers, files={"data": (name, data, "text/csv")}).status_code


def bare_loop(
    emulator: EmulatorProcess,
    engine: Engine,
    cycle_id: uuid.UUID,
    limit: int | None = None,
    ids: list[uuid.UUID] | None = None,
    meter: Timers | None = None,
) -> tuple[float, int, Counter[int]]:
    """Post the stored files (of the batches ``ids``) one at a time; seconds spent posting,
    files posted, statuses. ``meter`` adds up the CPU time spent posting."""
    meter = meter or Timers()
    common = {
        "Platform-TenantId": TENANT,
        "Accept": "application/json",
        "Authorization": f"Bearer {hub_token(emulator)}",
    }
    url = f"{emulator.base_url}/batchtransactions"
    statuses: Counter[int] = Counter()
    seconds, posted = 0.0, 0
    with httpx.Client(timeout=60, headers=common) as client:
        for chunk in stored_files(engine, cycle_id, ids):
            if limit is not None:
                chunk = chunk[: limit - posted]
            started = time.perf_counter()
            with meter.measuring():
                for name, data in chunk:
                    statuses[post_file(client, url, name, data)] += 1
            seconds += time.perf_counter() - started
            posted += len(chunk)
            if limit is not None and posted >= limit:
                break
    return seconds, posted, statuses


# --- the sync baselines: bare reads, COPY --------------------------------------------------------


def phee_batch_ids(engine: Engine, cycle_id: uuid.UUID) -> list[str]:
    """The cycle's PHEE batch ids, in the order the sync reads them (the batches' sequence)."""
    query = (
        select(PaymentBatch.phee_batch_id)
        .where(PaymentBatch.cycle_id == cycle_id, PaymentBatch.phee_batch_id.is_not(None))
        .order_by(PaymentBatch.sequence)
    )
    with engine.connect() as conn:
        return [str(phee_id) for phee_id in conn.scalars(query)]


def read_batch(client: httpx.Client, phee_id: str) -> int:
    """One bare read of a batch: its summary, then its detail pages from page 0 until the one
    that says it is the last; the pages read (summary included)."""
    summary = client.get(f"/api/v1/batch/{quote(phee_id, safe='')}")
    summary.raise_for_status()
    summary.json()
    page = 0
    while True:
        answer = client.get(
            "/api/v1/batch/detail",
            params={"batchId": phee_id, "pageNo": page, "pageSize": DETAIL_PAGE},
        )
        answer.raise_for_status()
        data = answer.json()
        page += 1
        if data.get("last", len(data["content"]) < DETAIL_PAGE) or not data["content"]:
            return 1 + page


def bare_reads(
    emulator: EmulatorProcess, phee_ids: Sequence[str], meter: Timers | None = None
) -> tuple[float, int]:
    """Read every batch with a plain httpx client, one batch at a time (the sync's
    concurrency); seconds spent reading, pages read. ``meter`` adds up the CPU time spent
    reading."""
    meter = meter or Timers()
    common = {
        "Platform-TenantId": TENANT,
        "Accept": "application/json",
        "Authorization": f"Bearer {hub_token(emulator)}",
    }
    with httpx.Client(base_url=emulator.base_url, timeout=60, headers=common) as client:
        started = time.perf_counter()
        with meter.measuring():
            pages = sum(read_batch(client, phee_id) for phee_id in phee_ids)
        return time.perf_counter() - started, pages


BASELINE_TABLES = {
    # kind: (the rows copied, the table they are copied into)
    "temp": (
        "SELECT id, status, amount_paid, failure_reason, settled_at FROM payments",
        "CREATE TEMP TABLE sync_baseline (id uuid, status text, amount_paid numeric, "
        "reason text, settled_at timestamptz)",
    ),
    "keyed": (
        "SELECT id, status, amount_paid, failure_reason, settled_at FROM payments",
        "CREATE TABLE sync_baseline (id uuid PRIMARY KEY, status text, amount_paid numeric, "
        "reason text, settled_at timestamptz)",
    ),
    "payments": (
        "SELECT * FROM payments",
        "CREATE TABLE sync_baseline (LIKE payments INCLUDING ALL)",
    ),
}


def copy_baseline(
    engine: Engine, repeats: int = COPY_REPEATS, *, kind: str = "temp"
) -> tuple[list[float], int]:
    """Seconds (one per repeat) to load rows of the synced payments into an empty table, and
    the number of rows. ``kind`` (``BASELINE_TABLES``): ``temp``, their (id, status,
    amount_paid, reason, settled_at) into a temporary table; ``keyed``, the same into a logged
    table with ``id`` as its primary key; ``payments`` (PostgreSQL only), the whole rows into a
    table of the payments table's definition, as the prepare benchmark's baseline. COPY on
    PostgreSQL, one executemany on SQLite."""
    query, create = BASELINE_TABLES[kind]
    runs: list[float] = []
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            buffer = io.BytesIO()
            driver = conn.connection.driver_connection
            with driver.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT") as copy:  # type: ignore[union-attr]
                for block in copy:
                    buffer.write(block)
        data = buffer.getvalue()
        for _ in range(repeats):
            with engine.begin() as conn:
                conn.exec_driver_sql(create)
                driver = conn.connection.driver_connection
                started = time.perf_counter()
                with driver.cursor() as cur, cur.copy("COPY sync_baseline FROM STDIN") as copy:  # type: ignore[union-attr]
                    for i in range(0, len(data), 1 << 20):
                        copy.write(data[i : i + (1 << 20)])
                runs.append(time.perf_counter() - started)
                conn.exec_driver_sql("DROP TABLE sync_baseline")
        return runs, data.count(b"\n")
    if kind == "payments":
        return [], 0
    with engine.begin() as conn:
        rows = [tuple(r) for r in conn.exec_driver_sql(query).fetchall()]
    for _ in range(repeats):
        with engine.begin() as conn:
            conn.exec_driver_sql(
                (
                    "CREATE TABLE sync_baseline (id PRIMARY KEY, "
                    if kind == "keyed"
                    else "CREATE TEMP TABLE sync_baseline (id, "
                )
                + "status, amount_paid, reason, settled_at)"
            )
            started = time.perf_counter()
            conn.exec_driver_sql("INSERT INTO sync_baseline VALUES (?, ?, ?, ?, ?)", rows)
            runs.append(time.perf_counter() - started)
            conn.exec_driver_sql("DROP TABLE sync_baseline")
    return runs, len(rows)


# --- send beside its baseline --------------------------------------------------------------------


def send_in_pairs(
    result: Outcome,
    factory: Any,
    admin: User,
    cycle_id: uuid.UUID,
    ids: list[uuid.UUID],
    bare_hub: EmulatorProcess,
    engine: Engine,
) -> tuple[int, Timers]:
    """Send the batches in ``SEND_PAIRS`` consecutive segments; beside each, the bare loop posts
    the same segment's files to its own hub (first on even segments, second on odd ones, so
    that a drift of the machine weighs on both sides alike). Fills ``result.pairs``; returns
    the batches submitted and the send's breakdown."""
    size = -(-len(ids) // SEND_PAIRS)
    timers = Timers()
    for owner, name, label in SEND_PARTS:
        timers.wrap(owner, name, label)
    submitted = 0
    try:
        for index in range(SEND_PAIRS):
            segment = ids[index * size : (index + 1) * size]
            if not segment:
                break
            bare_s = send_s = 0.0
            for side in ("bare", "send") if index % 2 == 0 else ("send", "bare"):
                if side == "bare":
                    bare_s, posted, statuses = bare_loop(
                        bare_hub, engine, cycle_id, ids=segment, meter=result.bare_send_cpu
                    )
                    result.bare_posted.append(posted)
                    result.baseline_statuses += statuses
                else:
                    started = time.perf_counter()
                    with timers.measuring():
                        sent = payments.send_cycle(factory, admin, cycle_id, segment)
                    send_s = time.perf_counter() - started
                    submitted += sent.count(SendOutcome.SUBMITTED)
            result.pairs.append((bare_s, send_s))
    finally:
        timers.restore()
    return submitted, timers


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Everything the tables print."""

    backend: str
    batches: int
    rows: int
    hub_latency_ms: float = 0.0
    prepare_s: float = 0.0
    prepared: int = 0
    send_s: float = 0.0
    submitted: int = 0
    send_timers: Timers = field(default_factory=Timers)
    pairs: list[tuple[float, float]] = field(default_factory=list)  # (bare s, send s)
    bare_posted: list[int] = field(default_factory=list)
    baseline_statuses: Counter[int] = field(default_factory=Counter)
    sync_s: float = 0.0
    read_runs: list[float] = field(default_factory=list)  # bare reads: before, after the sync
    read_pages: int = 0
    bare_send_cpu: Timers = field(default_factory=Timers)  # CPU of the bare loops, both kinds
    bare_read_cpu: Timers = field(default_factory=Timers)
    reconciled: int = 0
    sync_errors: int = 0
    sync_timers: Timers = field(default_factory=Timers)
    copy_s: float = 0.0
    copy_runs: list[float] = field(default_factory=list)
    copy_rows: int = 0
    durable_copy_runs: list[float] = field(default_factory=list)
    payments_copy_runs: list[float] = field(default_factory=list)
    final_states: dict[str, int] = field(default_factory=dict)
    hub_totals: dict[str, Any] = field(default_factory=dict)
    accepted_twice: int = -1
    paid_twice: int = -1


def run(
    backend: str, batches: int, rows: int, hub_latency_ms: float, say: Callable[[str], None]
) -> Outcome:
    n = batches * rows
    result = Outcome(backend, batches, rows, hub_latency_ms)
    workdir = Path(tempfile.mkdtemp(prefix="bench_send_sync_"))
    admin_engine: Engine | None = None
    name = f"bench_send_sync_{uuid.uuid4().hex[:8]}"
    if backend == "postgres":
        admin_engine = create_engine(
            PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1),
            isolation_level="AUTOCOMMIT",
        )
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = _pg_url(name)
    else:
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    emulator: EmulatorProcess | None = None
    bare_hub: EmulatorProcess | None = None  # the bare loops' own hub, configured alike
    engine: Engine | None = None
    try:
        config = {
            "seed": 7,
            "outcomes": {"failure_rate": FAILURE_RATE},
            "processing": {"upload_latency_ms": hub_latency_ms},
        }
        emulator = EmulatorProcess(workdir, config)
        say(f"emulator pid {emulator.process.pid} at {emulator.base_url}; loading {n:,} ...")
        setup(url, n)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with unit_of_work(factory) as session:
            admin = session.scalars(select(User)).one()
            cycle = session.scalars(select(Cycle)).one()
            configure_manager(
                session,
                admin,
                cycle.program,
                ManagerKind.PHEE,
                *hub_settings(emulator.base_url, rows),
            )
            cycle_id = cycle.id

        say("prepare ...")
        started = time.perf_counter()
        with unit_of_work(factory) as session:
            cycle = session.get_one(Cycle, cycle_id)
            report = payments.prepare_cycle(session, admin, cycle)
        result.prepare_s = time.perf_counter() - started
        result.prepared = report.created
        if (report.created, report.batches) != (n, batches):
            raise RuntimeError(f"prepare made {report.created} payments in {report.batches}")

        say(f"send, in {SEND_PAIRS} segments, each beside a bare loop posting the same files ...")
        (workdir / "bare").mkdir()
        bare_hub = EmulatorProcess(workdir / "bare", config)
        for warmed in (emulator, bare_hub):  # warm-up of both hubs and of the client side
            bare_loop(warmed, engine, cycle_id, limit=10)
            warmed.call("POST", "/_emulator/reset")
        with unit_of_work(factory) as session:
            ids = list(
                session.scalars(
                    select(PaymentBatch.id)
                    .where(PaymentBatch.cycle_id == cycle_id)
                    .order_by(PaymentBatch.sequence)
                )
            )
        result.submitted, result.send_timers = send_in_pairs(
            result, factory, admin, cycle_id, ids, bare_hub, engine
        )
        result.send_s = sum(send for _, send in result.pairs)
        if sum(result.bare_posted) != batches:
            raise RuntimeError(f"the baseline posted {result.bare_posted} files, not {batches}")

        say("complete-all, then bare reads, sync_cycle, bare reads ...")
        emulator.call("POST", "/_emulator/complete-all")
        phee_ids = phee_batch_ids(engine, cycle_id)
        bare_reads(emulator, phee_ids[:10])  # warm-up of the client side
        seconds, result.read_pages = bare_reads(emulator, phee_ids, result.bare_read_cpu)
        result.read_runs.append(seconds)
        synced, result.sync_s, result.sync_timers = timed_run(
            SYNC_PARTS, lambda: payments.sync_cycle(factory, admin, cycle_id)
        )
        result.read_runs.append(bare_reads(emulator, phee_ids, result.bare_read_cpu)[0])
        result.reconciled = synced.reconciled
        measured = result.sync_timers.calls
        if not all(measured[part] for part in DB_PARTS):
            raise RuntimeError(f"the sync's database work was not measured: {DB_PARTS} not called")
        result.sync_errors = sum(1 for r in synced.results if r.error)
        with unit_of_work(factory) as session:
            states = session.execute(
                select(Payment.state, Payment.status, func.count()).group_by(
                    Payment.state, Payment.status
                )
            ).tuples()
            result.final_states = {
                (s.value if st is None else f"{s.value}/{st.value}"): int(c) for s, st, c in states
            }

        say("emulator inspection ...")
        inspected = emulator.call("GET", "/_emulator/inspect")
        result.accepted_twice = len(inspected["accepted_more_than_once"])
        result.paid_twice = len(inspected["paid_more_than_once"])
        result.hub_totals = inspected["tenants"].get(TENANT, {})
        del inspected

        say("COPY baseline ...")
        result.copy_runs, result.copy_rows = copy_baseline(engine)
        result.copy_s = min(result.copy_runs)
        result.durable_copy_runs, _ = copy_baseline(engine, kind="keyed")
        result.payments_copy_runs, _ = copy_baseline(engine, kind="payments")

    finally:
        if engine is not None:
            engine.dispose()
        for started_hub in (emulator, bare_hub):
            if started_hub is not None:
                started_hub.stop()
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin_engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    return result


# --- report --------------------------------------------------------------------------------------


def print_tables(r: Outcome) -> None:
    n = r.batches * r.rows
    base_send = sum(bare for bare, _ in r.pairs)
    db_s = sum(r.sync_timers.seconds[label] for label in DB_PARTS)
    base_read = sum(r.read_runs) / len(r.read_runs)
    whole_rows = min(r.payments_copy_runs) if r.payments_copy_runs else None
    print(
        f"\nSend and sync: {r.batches:,} batches x {r.rows} rows = {n:,} payments, {r.backend}, "
        f"emulator in its own process, hub latency {r.hub_latency_ms:g} ms per upload, "
        f"{os.cpu_count()} CPUs\n"
    )
    header = (
        f"{'what':<50}{'seconds':>9}{'per second':>16}{'baseline s':>12}{'ratio':>7}{'target':>8}"
    )
    print(header)
    print("-" * len(header))

    def line(what: str, seconds: float, rate: str, base: float | None, target: str) -> None:
        ratio = f"{seconds / base:.2f}" if base else "-"
        base_text = f"{base:.2f}" if base else "-"
        print(f"{what:<50}{seconds:>9.2f}{rate:>16}{base_text:>12}{ratio:>7}{target:>8}")

    line("prepare_cycle (not compared)", r.prepare_s, f"{n / r.prepare_s:,.0f} pay/s", None, "")
    line(
        "send_cycle, concurrency 1 / bare httpx loop",
        r.send_s,
        f"{r.batches / r.send_s:,.1f} batch/s",
        base_send,
        "<=1.05" if r.hub_latency_ms >= LATENT_HUB_MS else "<=1.5",
    )
    line(
        "sync_cycle end to end / bare read loop",
        r.sync_s,
        f"{n / r.sync_s:,.0f} pay/s",
        base_read,
        "<=1.5",
    )
    line(
        "sync database work (reconcile_batches) / COPY",
        db_s,
        f"{n / db_s:,.0f} pay/s",
        r.copy_s,
        "" if whole_rows else "<=3",
    )
    line(
        "  the same / COPY into a logged keyed table",
        db_s,
        "",
        min(r.durable_copy_runs),
        "",
    )
    line(
        "  the same / COPY of whole payment rows",
        db_s,
        "",
        whole_rows,
        "<=3" if whole_rows else "",
    )
    print("-" * len(header))
    pairs = "; ".join(f"{bare:.2f} / {send:.2f} = {send / bare:.2f}" for bare, send in r.pairs)
    print(
        f"send beside its baseline, per segment (bare s / send s = ratio): {pairs}; "
        f"bare statuses {dict(r.baseline_statuses)}; the bare loop's CPU "
        f"{r.bare_send_cpu.process_cpu:.2f} s"
    )
    runs = " and ".join(f"{s:.2f}" for s in r.read_runs)
    print(
        f"bare read loop, one batch at a time: {runs} s (before and after the sync; the mean "
        f"is used), {r.read_pages:,} pages read each time (summaries and detail pages of "
        f"{DETAIL_PAGE} rows); its CPU {r.bare_read_cpu.process_cpu / len(r.read_runs):.2f} s "
        "per run"
    )
    runs = ", ".join(f"{s:.2f}" for s in r.copy_runs)
    print(
        f"COPY baseline: {r.copy_rows:,} rows (id, status, amount_paid, reason, settled_at) "
        f"into an empty temporary table; runs {runs} s, the fastest is used"
    )
    runs = ", ".join(f"{s:.2f}" for s in r.durable_copy_runs)
    print(f"the same rows into an empty logged table with a primary key: runs {runs} s")
    if r.payments_copy_runs:
        runs = ", ".join(f"{s:.2f}" for s in r.payments_copy_runs)
        print(
            "the synced payments' whole rows into an empty table of the payments table's "
            f"definition (indexes, checks; the prepare benchmark's baseline): runs {runs} s"
        )
    for title, total, timers, parts in (
        ("send_cycle", r.send_s, r.send_timers, SEND_PARTS),
        ("sync_cycle", r.sync_s, r.sync_timers, SYNC_PARTS),
    ):
        print(
            f"\nwhere {title} spends its time ({total:.2f} s; CPU of this process "
            f"{timers.process_cpu:.2f} s, of its main thread {timers.main_cpu:.2f} s)"
        )
        sub = f"{'part':<40}{'seconds':>9}{'cpu s':>8}{'calls':>8}{'ms/batch':>10}{'share':>8}"
        print(sub)
        print("-" * len(sub))
        accounted = 0.0
        count = r.batches
        for _, _, label in parts:
            if label not in timers.calls:
                continue
            seconds = timers.seconds[label]
            if not label.startswith((" ", DB_THREAD)):
                accounted += seconds
            print(
                f"{label:<40}{seconds:>9.2f}{timers.cpu[label]:>8.2f}{timers.calls[label]:>8,}"
                f"{seconds / count * 1000:>10.2f}{seconds / total:>8.0%}"
            )
        rest = total - accounted
        other = "main thread besides the above (waits...)"
        if title == "send_cycle":
            other = "main thread besides uploads (waits, ...)"
        print(f"{other:<40}{rest:>9.2f}{'':>16}{rest / count * 1000:>10.2f}{rest / total:>8.0%}")
    if r.send_timers.calls["upload (HTTP, client incl.)"]:
        upload = r.send_timers.seconds["upload (HTTP, client incl.)"]
        print(f"\nupload_batch alone / bare loop: {upload / base_send:.2f}")
    reads = sum(r.sync_timers.seconds[label] for label in READ_PARTS)
    if reads:
        print(f"sync's summary and detail reads alone / bare read loop: {reads / base_read:.2f}")
    print(
        f"\nbatches submitted {r.submitted:,}; payments reconciled by the sync {r.reconciled:,} "
        f"({r.sync_errors} batch errors); payments by state {r.final_states}"
    )
    print(
        f"emulator: accepted_more_than_once {r.accepted_twice}, paid_more_than_once "
        f"{r.paid_twice}; totals {r.hub_totals}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--backend", default="postgres", choices=["postgres", "sqlite"])
    parser.add_argument(
        "--hub-latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="milliseconds the emulators take to answer each accepted upload (default 0)",
    )
    args = parser.parse_args()
    # The PHEE secrets are stored encrypted and callback tokens are keyed: a throwaway key
    # keeps the benchmark from creating one under the data folder.
    os.environ.setdefault("G2P_SECRET_KEY", secrets.token_urlsafe(48))

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # run the clean-up in ``run``'s finally

    signal.signal(signal.SIGTERM, stop)
    began = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - began:7.1f} s] {message}", file=sys.stderr, flush=True)

    outcome = run(args.backend, args.batches, args.rows, args.hub_latency, say)
    print_tables(outcome)
    failures = []
    if outcome.accepted_twice or outcome.paid_twice:
        failures.append("the emulator accepted or paid a request_id more than once")
    if outcome.submitted != args.batches:
        failures.append(f"only {outcome.submitted} batches were submitted")
    if outcome.reconciled != args.batches * args.rows:
        failures.append(f"only {outcome.reconciled} payments were reconciled")
    if failures:
        print("\nCHECKS FAILED: " + "; ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
