"""Benchmark (issue 7): send throughput with 1, 2 and 4 Celery worker processes against a hub
that takes 200 ms to answer each upload, beside the ideal (latency x batches / workers).

    .venv/bin/python benchmarks/send_scaling.py [--batches 200] [--rows 500] [--latency 0.2]
                                                [--workers 1 2 4]

Needs PostgreSQL (``G2P_TEST_POSTGRES_URL``, default postgres@127.0.0.1) and Redis
(``G2P_TEST_REDIS_URL``, default redis://127.0.0.1:6379/15). For each worker count: a fresh
PostgreSQL database with batches x rows approved entitlements (bulk-loaded, not timed),
prepared into batches (not timed); the emulator runs in its own process with a ``slow`` fault
of ``--latency`` seconds on every upload (its other answers are immediate) and is reset
between runs. ``g2p-phee worker --pool solo`` processes (one task at a time each) are started
and ready before the clock starts.

Timed: from the commit of a ``send_cycle`` job (which fans out one ``g2p.send_batch`` per
batch and sends from the back itself) until every batch is ``submitted`` in the database.
Ideal: latency x batches / workers (each worker waits on one upload at a time). After each run
the emulator's inspection must show every request_id of the cycle accepted exactly once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from celery_bench import (
    Workers,
    celery_cycle,
    celery_settings,
    grouped,
    job_final,
    job_state,
    purge_queue,
    say_since,
    scalar,
    scratch_database,
    use_settings,
    wait_until,
)
from prepare import setup
from send_sync import EmulatorProcess

NOT_SENT = "SELECT count(*) FROM payment_batches WHERE state NOT IN ('submitted', 'completed')"


def one_run(
    args: argparse.Namespace,
    workers: int,
    emulator: EmulatorProcess,
    queue: str,
    workdir: Path,
    say: Any,
) -> dict[str, Any]:
    from g2p_payment_phee.db import unit_of_work
    from g2p_payment_phee.jobs import service as jobs
    from g2p_payment_phee.jobs.models import JobState
    from g2p_payment_phee.payments import service as payments
    from g2p_payment_phee.programs.models import Cycle

    n = args.batches * args.rows
    with scratch_database("bench_scaling") as url:
        say(f"{workers} workers: loading {n:,} entitlements, preparing ...")
        setup(url, n)
        settings = celery_settings(url, queue, workdir)
        use_settings(settings)
        scale = celery_cycle(url, emulator.base_url, args.rows)
        engine, factory, admin = scale.engine, scale.factory, scale.admin
        with unit_of_work(factory) as session:
            cycle = session.scalars(select(Cycle)).one()
            report = payments.prepare_cycle(session, admin, cycle)
            cycle_id = cycle.id
        if report.batches != args.batches:
            raise RuntimeError(f"prepare made {report.batches} batches, not {args.batches}")
        emulator.call("POST", "/_emulator/reset")
        purge_queue(queue)
        pool = Workers(settings, workdir, workers, f"w{workers}")
        try:
            pool.wait_ready()
            say(f"{workers} workers ready; sending {args.batches} batches ...")
            started = time.monotonic()
            with unit_of_work(factory) as session:
                job = jobs.submit(session, admin, "send_cycle", {"cycle_id": str(cycle_id)})
            done = wait_until(lambda: scalar(engine, NOT_SENT) == 0, args.timeout)
            wait_until(job_final(factory, job.id), args.timeout)
        finally:
            pool.stop()
            purge_queue(queue)
        final = job_state(factory, job.id)
        if final.state is not JobState.SUCCEEDED:
            raise RuntimeError(f"the send job ended {final.state}: {final.error}")
        states = grouped(engine, "SELECT state, count(*) FROM payment_batches GROUP BY 1")
        attempts = scalar(engine, "SELECT sum(send_attempts) FROM payment_batches")
        engine.dispose()
    inspected = emulator.call("GET", "/_emulator/inspect")
    accepted = Counter(v["accepted"] for v in inspected["request_ids"].values())
    seconds = done - started
    ideal = args.latency * args.batches / workers
    return {
        "workers": workers,
        "batches": args.batches,
        "seconds": seconds,
        "ideal": ideal,
        "states": states,
        "attempts": int(attempts or 0),
        "payments": n,
        "seen": len(inspected["request_ids"]),
        "accepted_once": accepted.get(1, 0),
        "accepted_twice": len(inspected["accepted_more_than_once"]),
        "job_attempts": final.attempts,
    }


def print_table(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    print()
    print(
        f"send scaling: {args.batches} batches of {args.rows} payments, hub latency "
        f"{args.latency * 1000:.0f} ms per upload, PostgreSQL + Redis, worker --pool solo"
    )
    header = f"{'workers':>7} {'batches':>7} {'seconds':>8} {'batches/s':>9} {'ideal s':>8} "
    print(header + f"{'ratio to ideal':>14}")
    for r in results:
        print(
            f"{r['workers']:>7} {r['batches']:>7} {r['seconds']:>8.2f} "
            f"{r['batches'] / r['seconds']:>9.2f} {r['ideal']:>8.2f} "
            f"{r['seconds'] / r['ideal']:>14.2f}"
        )
    if len(results) > 1:
        base = results[0]
        for r in results[1:]:
            speedup = base["seconds"] / r["seconds"]
            print(f"  speed-up {base['workers']} -> {r['workers']} workers: {speedup:.2f}x")
    print()
    for r in results:
        print(
            f"  {r['workers']} workers: batches {r['states']}, send attempts {r['attempts']}, "
            f"job attempts {r['job_attempts']}; emulator: request_ids seen {r['seen']:,} of "
            f"{r['payments']:,}, accepted once {r['accepted_once']:,}, accepted more than once "
            f"{r['accepted_twice']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--rows", type=int, default=500, help="payments per batch")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per upload")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    say = say_since(time.monotonic())
    workdir = Path(tempfile.mkdtemp(prefix="send_scaling_"))
    queue = f"bench_scaling_{uuid.uuid4().hex[:8]}"
    latency = {"kind": "slow", "endpoints": ["upload"], "seconds": args.latency}
    emulator = EmulatorProcess(workdir, {"seed": 1, "faults": {"rules": [latency]}})
    say(f"emulator pid {emulator.process.pid}; logs in {workdir}")
    results = []
    try:
        for workers in args.workers:
            results.append(one_run(args, workers, emulator, queue, workdir, say))
            r = results[-1]
            say(f"{workers} workers: {r['seconds']:.2f} s (ideal {r['ideal']:.2f} s)")
    finally:
        emulator.stop()
    print_table(args, results)
    problems = [
        r
        for r in results
        if r["accepted_twice"] or r["accepted_once"] != r["payments"] or r["seen"] != r["payments"]
    ]
    print("check:", "OK (every request_id accepted exactly once)" if not problems else "FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
