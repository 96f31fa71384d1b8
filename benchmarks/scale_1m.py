"""Benchmark (issue 7, SPEC 8): a 1,000,000-payment cycle end to end through Celery workers on
PostgreSQL: the prepare job, the send job (2,000 batches to the emulator) and the sync job,
each beside a baseline measured in the same run, then the never-twice / never-lost audit.

    .venv/bin/python benchmarks/scale_1m.py [--n 1000000] [--rows 500] [--workers 2]

Needs PostgreSQL (``G2P_TEST_POSTGRES_URL``, default postgres@127.0.0.1) and Redis
(``G2P_TEST_REDIS_URL``, default redis://127.0.0.1:6379/15); it creates and drops its own
database and queue. The approved entitlements are bulk-loaded first (not timed); the emulator
runs in its own process, no latency, 2 % of payees failing; ``--workers`` ``g2p-phee worker
--pool solo`` processes do all the work, ready before the first clock starts. Each phase is
timed from the commit of its job until the job is final and the database shows the phase done.

Baselines (same database, same emulator):
* prepare: a ``COPY`` of the same payment rows into an empty table with the payments table's
  definition (SPEC: prepare <= 3x, and >= 50,000 payments/s);
* send: the same stored files posted by a bare ``httpx`` loop with the same concurrency as the
  workers (one thread per worker), bearer token, fresh correlation ids; the emulator is reset
  afterwards (SPEC: send <= 1.25x);
* sync: a ``COPY`` of the synced (id, status, amount_paid, reason, settled_at) rows (SPEC: the
  database work <= 3x; here the whole sync job is timed, PHEE reads included).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from celery_bench import (
    Workers,
    celery_cycle,
    celery_settings,
    grouped,
    job_state,
    purge_queue,
    say_since,
    scalar,
    scratch_database,
    use_settings,
    wait_until,
)
from prepare import baseline as prepare_copy_baseline
from prepare import setup
from send_sync import (
    TENANT,
    EmulatorProcess,
    copy_baseline,
    hub_token,
    post_file,
    stored_files,
)

BATCHES = "SELECT state, count(*) FROM payment_batches GROUP BY 1"
PAYMENTS = "SELECT state || coalesce('/' || status, ''), count(*) FROM payments GROUP BY 1"


def run_phase(
    factory: Any, admin: Any, kind: str, cycle_id: uuid.UUID, done: Any, say: Any, timeout: float
) -> tuple[float, Any]:
    """Submit ``kind`` for the cycle; seconds until the job is final and ``done()`` holds."""
    from g2p_payment_phee.db import unit_of_work
    from g2p_payment_phee.jobs import service as jobs
    from g2p_payment_phee.jobs.models import JobState

    started = time.monotonic()
    with unit_of_work(factory) as session:
        job = jobs.submit(session, admin, kind, {"cycle_id": str(cycle_id)})
    last = [started]

    def finished() -> bool:
        now = job_state(factory, job.id)
        if time.monotonic() - last[0] > 10:
            say(f"  {kind}: {now.state} {now.progress_done}/{now.progress_total or '?'}")
            last[0] = time.monotonic()
        return bool(now.state in (JobState.SUCCEEDED, JobState.FAILED) and done())

    ended = wait_until(finished, timeout, every=0.1)
    final = job_state(factory, job.id)
    if final.state is not JobState.SUCCEEDED:
        raise RuntimeError(f"the {kind} job ended {final.state}: {final.error}")
    return ended - started, final


def bare_send(
    emulator: EmulatorProcess, engine: Engine, cycle_id: uuid.UUID, threads: int
) -> float:
    """Post every stored file with ``threads`` concurrent ``httpx`` clients; seconds posting."""
    files = [item for chunk in stored_files(engine, cycle_id) for item in chunk]
    common = {"Platform-TenantId": TENANT, "Authorization": f"Bearer {hub_token(emulator)}"}
    url = f"{emulator.base_url}/batchtransactions"
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def post_every(share: list[tuple[str, bytes]]) -> None:
        with httpx.Client(timeout=60, headers=common) as client:
            for name, data in share:
                status = post_file(client, url, name, data)
                with lock:
                    statuses[status] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post_every, [files[i::threads] for i in range(threads)]))
    seconds = time.perf_counter() - started
    if statuses != Counter({202: len(files)}):
        raise RuntimeError(f"the bare loop got {dict(statuses)}")
    return seconds


def run(args: argparse.Namespace, url: str, workdir: Path, say: Any) -> dict[str, Any]:

    out: dict[str, Any] = {"n": args.n}
    queue = f"bench_1m_{uuid.uuid4().hex[:8]}"
    emulator = EmulatorProcess(workdir, {"seed": 7, "outcomes": {"failure_rate": 0.02}})
    pool: Workers | None = None
    try:
        say(f"emulator pid {emulator.process.pid}; loading {args.n:,} entitlements ...")
        loaded = time.monotonic()
        setup(url, args.n)
        say(f"loaded in {time.monotonic() - loaded:.0f} s")
        settings = celery_settings(url, queue, workdir)
        use_settings(settings)
        scale = celery_cycle(url, emulator.base_url, args.rows)
        engine, factory, admin, cycle_id = scale.engine, scale.factory, scale.admin, scale.cycle_id
        purge_queue(queue)
        pool = Workers(settings, workdir, args.workers, "w1m")
        pool.wait_ready()
        say(f"{args.workers} workers ready; logs in {workdir}")

        def batches_are(*states: str) -> Any:
            wanted = set(states)
            return lambda: set(grouped(engine, BATCHES)) <= wanted

        say("prepare job ...")
        out["prepare_s"], job = run_phase(
            factory, admin, "prepare_cycle", cycle_id, lambda: True, say, args.timeout
        )
        out["prepared"], out["batches"] = job.result["created"], job.result["batches"]
        say(f"prepare: {out['prepare_s']:.1f} s; COPY baseline ...")
        out["prepare_copy_s"] = prepare_copy_baseline(url)

        say(f"send baseline: bare httpx, {args.workers} threads ...")
        out["bare_send_s"] = bare_send(emulator, engine, cycle_id, args.workers)
        emulator.call("POST", "/_emulator/reset")
        say("send job ...")
        out["send_s"], job = run_phase(
            factory, admin, "send_cycle", cycle_id, batches_are("submitted"), say, args.timeout
        )
        out["send_states"] = grouped(engine, BATCHES)
        out["send_attempts"] = int(scalar(engine, "SELECT sum(send_attempts) FROM payment_batches"))

        say("complete-all at the emulator; sync job ...")
        emulator.call("POST", "/_emulator/complete-all")
        out["sync_s"], job = run_phase(
            factory, admin, "sync_cycle", cycle_id, batches_are("completed"), say, args.timeout
        )
        out["sync_result"] = {k: job.result.get(k) for k in ("batches", "paid", "failed")}
        out["sync_result"]["helpers"] = job.result.get("helpers", 0)
        runs, rows = copy_baseline(engine)
        out["sync_copy_s"], out["sync_copy_rows"] = min(runs), rows
    finally:
        if pool is not None:
            pool.stop()
        purge_queue(queue)
        try:
            if "sync_s" in out:
                out.update(audit(engine, emulator, say))
        finally:
            emulator.stop()
    return out


def audit(engine: Engine, emulator: EmulatorProcess, say: Any) -> dict[str, Any]:
    say("audit: the emulator's inspection and the database ...")
    inspected = emulator.call("GET", "/_emulator/inspect")
    accepted = Counter(v["accepted"] for v in inspected["request_ids"].values())
    payments = grouped(engine, PAYMENTS)
    total = int(scalar(engine, "SELECT count(*) FROM payments"))
    db_paid, db_failed = payments.get("reconciled/paid", 0), payments.get("reconciled/failed", 0)
    return {
        "seen": len(inspected["request_ids"]),
        "accepted_once": accepted.get(1, 0),
        "accepted_twice": len(inspected["accepted_more_than_once"]),
        "paid_twice": len(inspected["paid_more_than_once"]),
        "hub_paid": sum(v["paid"] for v in inspected["request_ids"].values()),
        "hub_failed": sum(v["failed"] for v in inspected["request_ids"].values()),
        "db_paid": db_paid,
        "db_failed": db_failed,
        "payments": payments,
        "total": total,
        "lost": total - db_paid - db_failed,
        "batch_states": grouped(engine, BATCHES),
    }


def print_tables(args: argparse.Namespace, r: dict[str, Any]) -> bool:
    n = r["n"]
    print()
    print(
        f"scale: {n:,} payments, {r['batches']:,} batches of {args.rows}, PostgreSQL, "
        f"{args.workers} Celery workers (--pool solo), emulator in its own process"
    )
    head = f"{'phase':<8} {'seconds':>8} {'payments/s':>11} {'baseline':<34} {'base s':>7}"
    print(f"{head} {'ratio':>6}")
    rows = [
        ("prepare", r["prepare_s"], "COPY of the payment rows", r["prepare_copy_s"]),
        ("send", r["send_s"], f"bare httpx loop, {args.workers} threads", r["bare_send_s"]),
        ("sync", r["sync_s"], "COPY of the synced rows", r["sync_copy_s"]),
    ]
    for phase, seconds, what, base in rows:
        print(
            f"{phase:<8} {seconds:>8.1f} {n / seconds:>11,.0f} {what:<34} {base:>7.1f} "
            f"{seconds / base:>6.2f}"
        )
    print(
        "targets (SPEC 8): prepare <= 3x COPY and >= 50,000/s; send <= 1.25x the bare loop; "
        "sync database work <= 3x COPY (here: the whole sync job, PHEE reads included)"
    )
    print(
        f"  prepare: {r['prepared']:,} payments in {r['batches']:,} batches; send: batches "
        f"{r['send_states']}, send attempts {r['send_attempts']:,}; sync job: {r['sync_result']}"
    )
    print()
    print(
        f"audit: emulator request_ids seen {r['seen']:,}; accepted once {r['accepted_once']:,}; "
        f"accepted more than once {r['accepted_twice']}; paid more than once {r['paid_twice']}"
    )
    print(
        f"  emulator paid / failed {r['hub_paid']:,} / {r['hub_failed']:,}; database paid / "
        f"failed {r['db_paid']:,} / {r['db_failed']:,}; batches {r['batch_states']}"
    )
    print(f"  payments {r['payments']}; lost (not reconciled): {r['lost']}")
    ok = (
        r["accepted_twice"] == 0
        and r["paid_twice"] == 0
        and r["lost"] == 0
        and r["seen"] == r["accepted_once"] == n
        and (r["hub_paid"], r["hub_failed"]) == (r["db_paid"], r["db_failed"])
    )
    print("check:", "OK (accepted twice 0, lost 0)" if ok else "FAILED")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="payments in the cycle")
    parser.add_argument("--rows", type=int, default=500, help="payments per batch")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per phase")
    args = parser.parse_args()
    say = say_since(time.monotonic())
    workdir = Path(tempfile.mkdtemp(prefix="scale_1m_"))
    with scratch_database("bench_scale_1m") as url:
        result = run(args, url, workdir, say)
    return 0 if print_tables(args, result) else 1


if __name__ == "__main__":
    sys.exit(main())
