"""Benchmark: a 100,000-record G2P Connect disburse, from ack to every record final at the MIS.

    python benchmarks/g2p_connect_roundtrip.py [--records 100000] [--backend postgres|sqlite]

A fresh database (PostgreSQL database created and dropped here, at ``G2P_TEST_POSTGRES_URL``'s
server, by default ``postgresql://postgres@127.0.0.1:5432/postgres``; or a temporary SQLite
file); the PHEE emulator in its own process (``python -m g2p_payment_phee.emulator``, 2 % of
transfers fail); the application served by uvicorn from a thread of this process, with its
in-process job runner; the MIS stand-in (``g2p_connect.mis``) on a loopback port.

The MIS sends the records in requests of at most the product's per-request limit (10,000: one
transaction each, so 100,000 records are ten transactions of one sender), each acked; the
time to each ack is printed. Then, from the last ack, what the server does over time is run at
once, round after round: the jobs it started finish (intake: registrants and entitlements;
approval; prepare; send), the emulator makes every transfer final (``complete-all``), and the
sweep syncs the cycles, writes the callbacks and delivers them, until the MIS was told a final
status for every record. That time is the figure.

Baseline: the product's own payment run of as many payments through the same emulator, without
G2P Connect: a cycle of that many approved entitlements bulk-loaded beforehand
(``prepare.setup``, not timed), then prepare, send, ``complete-all`` and sync, timed from the
approved cycle to every payment final. The ratio is what G2P Connect adds to paying (receipt
checks, registrants found or created from the payee FAs, entitlements, approval, statuses and
callbacks). No target is set; the figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import make_engine, make_session_factory, unit_of_work
from g2p_payment_phee.demo_g2p_connect import serve_in_thread
from g2p_payment_phee.g2p_connect import callback_tasks
from g2p_payment_phee.g2p_connect.mis import Beneficiary, MisStandIn, kenyan_beneficiaries
from g2p_payment_phee.g2p_connect.outbox_models import G2PConnectCallback
from g2p_payment_phee.g2p_connect.receipt import RECORD_LIMIT
from g2p_payment_phee.g2p_connect.senders import SenderRequest, add_sender
from g2p_payment_phee.jobs import sweep as sweep_module
from g2p_payment_phee.jobs.runner import InProcessRunner
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.models import Cycle, ManagerKind, TargetType
from g2p_payment_phee.users.models import User

# Run as a script, this file's folder is on sys.path: the sibling benchmarks' set-up and hub.
from prepare import PG_ADMIN, _pg_url, setup
from send_sync import EmulatorProcess, hub_settings

FAILURE_RATE = 0.02
ROUNDS = 30
BATCH_ROWS = 5000


@dataclass
class RoundTrip:
    """What the G2P Connect side measured."""

    acks: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    callback_seconds: float = 0.0  # writing and delivering callbacks, within ``seconds``
    statuses: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rounds: int = 0
    callbacks: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    args = parser.parse_args()
    os.environ["G2P_SWEEP_SECONDS"] = "3600"  # the benchmark runs the sweep itself
    os.environ.setdefault("G2P_DATA_DIR", tempfile.mkdtemp(prefix="bench_g2p_data_"))
    get_settings.cache_clear()
    with _database(args.backend) as url, _hub() as hub:
        setup(url, args.records)  # the baseline's approved cycle, bulk-loaded (not timed)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        baseline = _baseline(factory, hub, args.records)
        trip = _round_trip(factory, hub, args.records)
        engine.dispose()
    _print(args, trip, baseline)


class _database:
    """A fresh database of the backend, dropped at the end (PostgreSQL)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = f"bench_g2p_{uuid.uuid4().hex[:8]}"
        self.admin = create_engine(
            PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1),
            isolation_level="AUTOCOMMIT",
        )

    def __enter__(self) -> str:
        if self.backend == "sqlite":
            folder = tempfile.mkdtemp(prefix="bench_g2p_")
            return f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return _pg_url(self.name)

    def __exit__(self, *_: object) -> None:
        if self.backend == "postgres":
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


class _hub:
    def __enter__(self) -> EmulatorProcess:
        config = {"outcomes": {"failure_rate": FAILURE_RATE}}
        self.hub = EmulatorProcess(Path(tempfile.mkdtemp(prefix="bench_g2p_hub_")), config)
        return self.hub

    def __exit__(self, *_: object) -> None:
        self.hub.stop()


def _manager(session: Session, admin: User, program_name: str, hub: EmulatorProcess) -> None:
    settings, secrets = hub_settings(hub.base_url, BATCH_ROWS)
    program = programs.get_program(session, program_name)
    configure_manager(session, admin, program, ManagerKind.PHEE, settings, secrets)


def _baseline(factory: sessionmaker[Session], hub: EmulatorProcess, n: int) -> float:
    """The product's own run of n approved entitlements: prepare, send, settle, sync."""
    with unit_of_work(factory) as session:
        admin = session.scalars(select(User).where(User.username == "bench")).one()
        _manager(session, admin, "Bench", hub)
        cycle_id = session.scalars(select(Cycle.id).where(Cycle.name == "C1")).one()
    started = time.perf_counter()
    with unit_of_work(factory) as session:
        cycle = session.get(Cycle, cycle_id)
        assert cycle is not None
        report = payments.prepare_cycle(session, admin, cycle)
    payments.send_cycle(factory, admin, cycle_id)
    hub.call("POST", "/_emulator/complete-all")
    payments.sync_cycle(factory, admin, cycle_id)
    seconds = time.perf_counter() - started
    print(f"baseline: {report.created} payments prepared, sent and synced in {seconds:.1f} s")
    return seconds


def _round_trip(factory: sessionmaker[Session], hub: EmulatorProcess, n: int) -> RoundTrip:
    trip = RoundTrip()
    with unit_of_work(factory) as session:
        admin = session.scalars(select(User).where(User.username == "bench")).one()
        programs.create_program(
            session,
            admin,
            name="Bench G2P Connect",
            currency="KES",
            target_type=TargetType.INDIVIDUAL,
            manager_kind=ManagerKind.PHEE,
            maker_checker=False,
        )
        _manager(session, admin, "Bench G2P Connect", hub)
    people = kenyan_beneficiaries(n, seed=11, amount="1000.00")
    with MisStandIn() as mis:
        with unit_of_work(factory) as session:
            admin = session.scalars(select(User).where(User.username == "bench")).one()
            request = SenderRequest(
                sender_id="bench-mis",
                program=programs.get_program(session, "Bench G2P Connect"),
                auto_approve=True,
                token_url=mis.token_url,
                token_client_id=mis.client_id,
                token_client_secret=mis.client_secret,
            )
            _, secret = add_sender(session, admin, request)
        from g2p_payment_phee.web.app import create_app

        app = create_app(factory)
        runner = app.state.job_runner
        assert isinstance(runner, InProcessRunner)
        with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=600) as http:
            _send(mis, http, secret, people, trip)
            started = time.perf_counter()
            with _timing_callbacks(trip):
                trip.rounds = _settle(runner, hub, mis, [p.reference_id for p in people])
            trip.seconds = time.perf_counter() - started
        trip.counts = dict(mis.counts())
        trip.callbacks = len(mis.callbacks)
    with factory() as session:
        written = session.scalar(select(func.count()).select_from(G2PConnectCallback))
    print(f"round trip: {trip.callbacks} callbacks received, {written} written")
    return trip


@contextmanager
def _timing_callbacks(trip: RoundTrip) -> Iterator[None]:
    """Add the sweep's callback step's wall time to ``trip.callback_seconds``."""
    original = callback_tasks.sweep_callbacks

    def timed(*args: Any, **kwargs: Any) -> dict[str, int]:
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            trip.callback_seconds += time.perf_counter() - began

    setattr(sweep_module, "sweep_callbacks", timed)  # noqa: B010 (a name the sweep reads)
    try:
        yield
    finally:
        setattr(sweep_module, "sweep_callbacks", original)  # noqa: B010


def _send(
    mis: MisStandIn,
    http: httpx.Client,
    secret: str,
    people: list[Beneficiary],
    trip: RoundTrip,
) -> None:
    for number, start in enumerate(range(0, len(people), RECORD_LIMIT), start=1):
        chunk = people[start : start + RECORD_LIMIT]
        began = time.perf_counter()
        ack = mis.disburse(
            http,
            sender_id="bench-mis",
            client_secret=secret,
            transaction_id=f"BENCH-{number:03d}",
            beneficiaries=chunk,
        )
        trip.acks.append(time.perf_counter() - began)
        trip.sizes.append(len(chunk))
        trip.statuses.append(str(ack["message"]["ack_status"]))


def _settle(
    runner: InProcessRunner, hub: EmulatorProcess, mis: MisStandIn, references: list[str]
) -> int:
    """Jobs, the hub settling and the sweep, round after round, until the MIS knows all."""
    steps: list[Callable[[], object]] = [
        lambda: runner.wait_idle(3600),
        lambda: hub.call("POST", "/_emulator/complete-all"),
        runner.sweep_now,
        lambda: runner.wait_idle(3600),
        runner.sweep_now,
    ]
    for round_number in range(1, ROUNDS + 1):
        for step in steps:
            step()
        if mis.final(references):
            return round_number
    raise RuntimeError(f"not every record final after {ROUNDS} rounds: {mis.counts()}")


def _print(args: argparse.Namespace, trip: RoundTrip, baseline: float) -> None:
    n = args.records
    slowest = trip.acks.index(max(trip.acks))
    rows = [
        (
            f"ack of a request (slowest of {len(trip.acks)})",
            trip.acks[slowest],
            trip.sizes[slowest],
        ),
        ("ack to every record final at the MIS", trip.seconds, n),
        ("  of which callbacks: write + deliver", trip.callback_seconds, n),
        ("baseline: own prepare, send, sync", baseline, n),
    ]
    print()
    print(f"G2P Connect round trip, {n:,} records, {args.backend}")
    print(f"{'':40}{'seconds':>10}{'records/s':>12}{'x baseline':>12}")
    for label, seconds, records in rows:
        ratio = f"{seconds / baseline:>12.2f}" if not label.startswith("ack of") else ""
        print(f"{label:40}{seconds:>10.2f}{records / seconds:>12,.0f}{ratio}")
    print(
        f"acks: {sorted(set(trip.statuses))}; rounds: {trip.rounds}; callbacks received: "
        f"{trip.callbacks}; final statuses at the MIS: {trip.counts}"
    )


if __name__ == "__main__":
    main()
