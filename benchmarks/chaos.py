"""Chaos run (issue 7, SPEC 9): a cycle through prepare, send and sync on Celery workers while a
random worker is SIGKILLed every few seconds and the hub misbehaves; then the audit of it.

    .venv/bin/python benchmarks/chaos.py --n 100000 --workers 2 --kill-every 6

Needs PostgreSQL (``G2P_TEST_POSTGRES_URL``, default postgres@127.0.0.1) and Redis
(``G2P_TEST_REDIS_URL``, default redis://127.0.0.1:6379/15). It creates and drops its own
database and Redis queue. The emulator runs in its own process with faults on: 5xx before the
upload is stored, connections dropped and answers hung after it was stored, uploads stored
late (6 s after the client gave up; the quiet period is 20 s), expired tokens,
5xx on status reads, and 2 % of payees failing. ``g2p-phee worker`` processes (``--pool solo``:
one process each) and one ``g2p-phee beat`` (the sweep every few seconds) do the work; this
script only submits the three jobs, kills and restarts workers, and watches.

At the end it checks, with the emulator's inspection and the database: every request_id
accepted at most once; every payment reconciled (paid or failed) or listed with its batch's
state and last error; the batch counters equal to the payments they count; the emulator's paid
and failed counts equal to the database's. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

# Run as a script, this file's folder is on sys.path: the sibling benchmarks' set-up.
from prepare import PG_ADMIN, _pg_url, setup
from send_sync import EmulatorProcess

SECRET = "chaos-secret-key-0123456789abcdefghijkl"
FAULTS: dict[str, Any] = {
    "rules": [
        {"kind": "error_5xx", "endpoints": ["upload"], "rate": 0.05},
        {"kind": "drop", "endpoints": ["upload"], "rate": 0.05},
        {"kind": "hang", "endpoints": ["upload"], "rate": 0.03, "seconds": 4},
        # held before it is stored, stored 6 s later whatever the client did (it gave up at 2 s)
        {"kind": "late_store", "endpoints": ["upload"], "rate": 0.03, "seconds": 6},
        {"kind": "token_expired", "endpoints": ["upload", "status"], "rate": 0.02},
        {"kind": "error_5xx", "endpoints": ["status", "details"], "rate": 0.03},
    ]
}


class Processes:
    """The workers and beat, restartable by index; a log file each."""

    def __init__(self, env: dict[str, str], logs: Path, workers: int) -> None:
        self.env, self.logs = env, logs
        self.bin = str(Path(sys.executable).parent / "g2p-phee")
        self.workers: list[subprocess.Popen[bytes]] = []
        for index in range(workers):
            self.workers.append(self._start("worker", index))
        self.beat = self._start("beat", 0)
        self.kills = 0

    def _start(self, what: str, index: int) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{what}-{index}.log").open("ab")
        command = [self.bin, what]
        if what == "worker":
            command += ["--pool", "solo", "--hostname", f"chaos{index}-{time.time_ns()}@%h"]
        return subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill_one(self, rng: random.Random) -> int:
        index = rng.randrange(len(self.workers))
        victim = self.workers[index]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.kills += 1
        self.workers[index] = self._start("worker", index)
        return victim.pid

    def stop(self) -> None:
        for process in [*self.workers, self.beat]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.workers, self.beat]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def counts(engine: Engine, query: str) -> dict[str, int]:
    with engine.connect() as conn:
        return {str(k): int(v) for k, v in conn.execute(text(query)).tuples()}


BATCHES = "SELECT state, count(*) FROM payment_batches GROUP BY state"
PAYMENTS = (
    "SELECT state || coalesce('/' || status, ''), count(*) FROM payments GROUP BY 1 ORDER BY 1"
)


def wait_job(factory: Any, job_id: uuid.UUID, timeout: float, say: Any) -> Any:
    from g2p_payment_phee.db import unit_of_work
    from g2p_payment_phee.jobs.models import Job, JobState

    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        with unit_of_work(factory) as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.state in (JobState.SUCCEEDED, JobState.FAILED):
                return job
            state = f"{job.kind} {job.state} attempt {job.attempts} {job.progress_done}"
        say(f"  {state}/{job.progress_total or '?'}")
        pause.wait(3)
    raise RuntimeError(f"job {job_id} did not finish within {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="payments in the cycle")
    parser.add_argument("--rows", type=int, default=500, help="payments per batch")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=6.0, help="seconds between kills")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {message}", flush=True)

    redis_url = os.environ.get("G2P_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    name = f"bench_chaos_{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="chaos_"))
    admin_engine = create_engine(
        PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = _pg_url(name)
    settings = {
        "G2P_DATABASE_URL": url,
        "G2P_SECRET_KEY": SECRET,
        "G2P_BROKER_URL": redis_url,
        "G2P_JOB_RUNNER": "celery",
        "G2P_CELERY_QUEUE": name,
        "G2P_SWEEP_SECONDS": "5",
        "G2P_SEND_LEASE_SECONDS": "10",
        # longer than the late stores' 6 s: a batch they hold is never resent
        "G2P_UNKNOWN_OUTCOME_QUIET_SECONDS": "20",
        "G2P_STALE_JOB_SECONDS": "30",
        "G2P_DATA_DIR": str(workdir),
        "G2P_LOG_LEVEL": "INFO",
    }
    os.environ.update(settings)
    emulator: EmulatorProcess | None = None
    try:
        emulator = EmulatorProcess(
            workdir, {"seed": args.seed, "outcomes": {"failure_rate": 0.02}, "faults": FAULTS}
        )
        say(f"emulator pid {emulator.process.pid}; loading {args.n:,} entitlements ...")
        setup(url, args.n)
        failures = run(args, url, emulator, workdir, rng, say)
        return 1 if failures else 0
    finally:
        if emulator is not None:
            emulator.stop()
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()
        import redis

        redis.Redis.from_url(redis_url).delete(name)


def run(
    args: argparse.Namespace,
    url: str,
    emulator: EmulatorProcess,
    workdir: Path,
    rng: random.Random,
    say: Any,
) -> list[str]:
    from celery_bench import celery_cycle
    from g2p_payment_phee.db import unit_of_work
    from g2p_payment_phee.jobs import service as jobs

    scale = celery_cycle(url, emulator.base_url, args.rows, batch_request_timeout=2)
    engine, factory, admin, cycle_id = scale.engine, scale.factory, scale.admin, scale.cycle_id
    procs = Processes(dict(os.environ), workdir, args.workers)
    say(f"{args.workers} workers and beat started; logs in {workdir}")
    stop_killing = threading.Event()

    def killer() -> None:
        while not stop_killing.wait(args.kill_every):
            pid = procs.kill_one(rng)
            say(f"SIGKILL worker pid {pid} (kill #{procs.kills}); restarted")

    chaos = threading.Thread(target=killer, daemon=True)
    chaos.start()
    deadline = time.monotonic() + args.timeout
    try:
        for kind in ("prepare_cycle", "send_cycle"):
            with unit_of_work(factory) as session:
                job = jobs.submit(session, admin, kind, {"cycle_id": str(cycle_id)})
            say(f"{kind} job {job.id} submitted")
            done = wait_job(factory, job.id, deadline - time.monotonic(), say)
            say(
                f"{kind}: {done.state} after {done.attempts} attempts: "
                f"{done.message} {done.error or ''}"
            )
        pause = threading.Event()
        while time.monotonic() < deadline:
            emulator.call("POST", "/_emulator/complete-all")
            batches = counts(engine, BATCHES)
            payments = counts(engine, PAYMENTS)
            say(f"batches {batches} payments {payments}")
            if set(batches) == {"completed"}:
                break
            pause.wait(5)
    finally:
        stop_killing.set()
        chaos.join()
        procs.stop()
    return audit(engine, emulator, procs.kills, time.monotonic() - deadline + args.timeout, say)


def audit(
    engine: Engine, emulator: EmulatorProcess, kills: int, seconds: float, say: Any
) -> list[str]:
    inspected = emulator.call("GET", "/_emulator/inspect")
    accepted = Counter(v["accepted"] for v in inspected["request_ids"].values())
    batches = counts(engine, BATCHES)
    payments = counts(engine, PAYMENTS)
    with engine.connect() as conn:
        total = conn.scalar(text("SELECT count(*) FROM payments"))
        open_rows = conn.execute(
            text(
                "SELECT b.state, coalesce(b.last_error, ''), count(*) FROM payments p "
                "JOIN payment_batches b ON b.id = p.batch_id WHERE p.state <> 'reconciled' "
                "GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10"
            )
        ).all()
        counter_mismatch = conn.scalar(
            text(
                "SELECT count(*) FROM payment_batches b WHERE "
                "b.issued_count <> (SELECT count(*) FROM payments p WHERE p.batch_id = b.id) OR "
                "b.paid_count <> (SELECT count(*) FROM payments p WHERE p.batch_id = b.id "
                "  AND p.status = 'paid') OR "
                "b.failed_count <> (SELECT count(*) FROM payments p WHERE p.batch_id = b.id "
                "  AND p.status = 'failed')"
            )
        )
        attempts = conn.scalar(text("SELECT sum(send_attempts) FROM payment_batches"))
        job_rows = conn.execute(
            text(
                "SELECT kind, state, max(attempts), count(*) FROM jobs GROUP BY 1, 2 ORDER BY 1, 2"
            )
        ).all()
    hub_paid = sum(v["paid"] for v in inspected["request_ids"].values())
    hub_failed = sum(v["failed"] for v in inspected["request_ids"].values())
    db_paid = payments.get("reconciled/paid", 0)
    db_failed = payments.get("reconciled/failed", 0)
    lost = int(total or 0) - db_paid - db_failed - sum(int(r[2]) for r in open_rows)
    twice = len(inspected["accepted_more_than_once"]) + len(inspected["paid_more_than_once"])
    print()
    print(
        f"chaos: {total:,} payments, {sum(batches.values())} batches, {kills} workers SIGKILLed, "
        f"{seconds:.0f} s"
    )
    print(
        f"  emulator: request_ids seen {len(inspected['request_ids']):,}; accepted once "
        f"{accepted.get(1, 0):,}; accepted more than once "
        f"{len(inspected['accepted_more_than_once'])}; "
        f"paid more than once {len(inspected['paid_more_than_once'])}"
    )
    print(
        f"  emulator paid / failed: {hub_paid:,} / {hub_failed:,}; database paid / failed: "
        f"{db_paid:,} / {db_failed:,}"
    )
    faults = emulator.call("GET", "/_emulator/faults")
    fired = {
        f"{rule['kind']}:{','.join(rule['endpoints'])}": int(n)
        for rule, n in zip(faults["rules"], faults["fired"], strict=True)
    }
    print(f"  hub faults fired: {fired}")
    with engine.connect() as conn:
        duplicated = conn.scalar(
            text("SELECT count(*) FROM payment_batches WHERE phee_duplicate_ids IS NOT NULL")
        )
    print(f"  batches the hub holds more than once (found by the sync): {duplicated}")
    print(f"  batches by state: {batches}; send attempts in all: {attempts}")
    print(f"  payments by state: {payments}")
    print(f"  payments not final, by batch state and error: {[tuple(r) for r in open_rows]}")
    print(f"  batches whose counters differ from their payments: {counter_mismatch}")
    print(f"  lost (neither final nor explained): {lost}")
    print(f"  jobs (kind, state, max attempts, count): {[tuple(r) for r in job_rows]}")
    failures = []
    if twice:
        failures.append("a request_id was accepted or paid more than once")
    if lost:
        failures.append("payments lost")
    if counter_mismatch:
        failures.append("batch counters differ from their payments")
    if (hub_paid, hub_failed) != (db_paid, db_failed):
        failures.append("the emulator's and the database's outcomes differ")
    print("result:", "OK" if not failures else "FAILED: " + "; ".join(failures))
    return failures


if __name__ == "__main__":
    sys.exit(main())
