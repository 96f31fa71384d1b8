"""Benchmark: time for the PHEE emulator to accept N bulk files of R rows over loopback.

Baseline, measured in the same run: a minimal ASGI endpoint on the same uvicorn set-up that only
reads the same uploads and answers 202. Both servers run in their own process; the same httpx
client posts the same pre-built multipart bodies with the same concurrency.

    python benchmarks/emulator_accept.py [--batches 2000 --rows 500 --concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

BOUNDARY = "benchmarkboundary7d3f"
HEADER = (
    "id,request_id,payment_mode,payer_identifier_type,payer_identifier,"
    "payee_identifier_type,payee_identifier,amount,currency,note"
)


# --- the baseline server ------------------------------------------------------------------


async def baseline_app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Reads the whole request body and answers 202 with a PollingPath-sized JSON body."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    size = 0
    more = True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = json.dumps({"PollingPath": f"/batch/Summary/{uuid.uuid4()}", "read": size}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 202, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve_baseline(port: int) -> None:
    """Run the baseline with the emulator's uvicorn settings (h11, no access log)."""
    import uvicorn

    uvicorn.run(
        baseline_app, host="127.0.0.1", port=port, http="h11", access_log=False, log_level="info"
    )


# --- workload -----------------------------------------------------------------------------


def build_uploads(batches: int, rows: int) -> list[tuple[dict[str, str], bytes]]:
    """One multipart body per batch, with fresh request_ids and distinct payees."""
    uploads = []
    for batch in range(batches):
        lines = [HEADER]
        lines += [
            f"{i},{uuid.uuid4()},mojaloop,msisdn,254700000000,msisdn,2547{batch:05d}{i:04d},"
            f"{100 + i},USD,Program: Benchmark. Cycle ID - {batch}"
            for i in range(rows)
        ]
        csv_text = "\n".join(lines)
        body = (
            f"--{BOUNDARY}\r\n"
            f'Content-Disposition: form-data; name="data"; filename="b{batch}.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n{csv_text}\r\n--{BOUNDARY}--\r\n"
        ).encode()
        headers = {
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "X-CorrelationID": str(uuid.uuid4()),
            "Platform-TenantId": "gorilla",
            "Type": "csv",
            "Purpose": "benchmark",
            "filename": f"b{batch}.csv",
        }
        uploads.append((headers, body))
    return uploads


@dataclass
class Result:
    """Timings of one run."""

    name: str
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]


async def post_all(
    base_url: str, uploads: list[tuple[dict[str, str], bytes]], concurrency: int
) -> Result:
    """POST every upload with ``concurrency`` workers sharing one httpx client."""
    queue: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()
    for item in uploads:
        queue.put_nowait(item)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                headers, body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post("/batchtransactions", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Result("", elapsed, latencies, statuses)


# --- server processes ---------------------------------------------------------------------


class ServerProcess:
    """A server subprocess; the port is read from uvicorn's "running on" line."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        self.port = 0
        for line in self.process.stderr:
            match = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
            if match:
                self.port = int(match.group(1))
                break
        if not self.port:
            raise RuntimeError(f"server did not start: {command}")
        stream = self.process.stderr
        threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


Uploads = list[tuple[dict[str, str], bytes]]


def run_against(
    name: str,
    command: list[str],
    uploads: Uploads,
    concurrency: int,
    check: Callable[[str], None] | None,
) -> Result:
    """Start the server, warm it up, post every upload, check, stop."""
    server = ServerProcess(command)
    try:
        warm = uploads[: max(concurrency, 4)]
        asyncio.run(post_all(server.base_url, warm, concurrency))
        if check is not None:
            httpx.post(f"{server.base_url}/_emulator/reset")
        result = asyncio.run(post_all(server.base_url, uploads, concurrency))
        result.name = name
        if check is not None:
            check(server.base_url)
        return result
    finally:
        server.stop()


def check_emulator(expected_batches: int, rows: int) -> Callable[[str], None]:
    def check(base_url: str) -> None:
        body = httpx.get(
            f"{base_url}/api/v1/batches",
            params={"limit": 1},
            headers={"Platform-TenantId": "gorilla"},
        ).json()
        assert body["totalBatches"] == expected_batches, body["totalBatches"]
        assert body["totalTransactions"] == expected_batches * rows

    return check


# --- report -------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def print_table(results: list[Result], batches: int, rows: int, concurrency: int) -> None:
    print(f"\nAccept {batches} batches x {rows} rows over loopback, concurrency {concurrency}\n")
    header = (
        f"{'server':<26}{'total s':>9}{'batches/s':>11}{'rows/s':>11}"
        f"{'p50 ms':>9}{'p95 ms':>9}  statuses"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        print(
            f"{result.name:<26}{result.seconds:>9.2f}{batches / result.seconds:>11.1f}"
            f"{batches * rows / result.seconds:>11.0f}"
            f"{statistics.median(result.latencies) * 1000:>9.2f}"
            f"{percentile(result.latencies, 0.95) * 1000:>9.2f}  {result.statuses}"
        )
    emulator, baseline = results
    print("-" * len(header))
    print(f"{'ratio emulator / baseline':<26}{emulator.seconds / baseline.seconds:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.port)
        return
    print(f"building {args.batches} files of {args.rows} rows ...", flush=True)
    uploads = build_uploads(args.batches, args.rows)
    emulator_cmd = [
        sys.executable,
        "-m",
        "g2p_payment_phee.emulator",
        "--port",
        "0",
        "--log-level",
        "info",
    ]
    baseline_cmd = [sys.executable, __file__, "--serve-baseline", "--port", "0"]
    emulator = run_against(
        "PHEE emulator",
        emulator_cmd,
        uploads,
        args.concurrency,
        check_emulator(args.batches, args.rows),
    )
    baseline = run_against(
        "baseline (read body, 202)", baseline_cmd, uploads, args.concurrency, None
    )
    print_table([emulator, baseline], args.batches, args.rows, args.concurrency)


if __name__ == "__main__":
    main()
