"""Benchmark: page timings on a 1,000,000-payment cycle on PostgreSQL (SPEC 8: < 300 ms).

    python benchmarks/pages.py [--n 1000000] [--repeats 7]

A fresh PostgreSQL database (created and dropped here) gets one approved cycle of n
entitlements loaded in bulk by ``prepare.setup``, then ``prepare_cycle`` makes the n payments
in batches of 500 (its time is printed, not compared); a bulk UPDATE then settles the cycle the
way sync would leave it: 98 % paid, 2 % failed with a reason, the batches' counters and states
set to match (one statement each). None of this is timed.

Each page is then requested through the real application (``create_app``, a signed-in
viewer's session cookie) with an in-process ASGI client, so the time is the server's: routing,
session check, queries, template rendering. One warm-up request, then ``--repeats`` timed ones;
the table shows the median and the slowest, against the 300 ms target. The baseline line is the
cheapest page the app has (``/healthz``, no database) measured the same way.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from g2p_payment_phee.db import make_engine, make_session_factory, unit_of_work
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.security import hash_password
from g2p_payment_phee.users.auth import create_api_token
from g2p_payment_phee.users.models import Role, User
from g2p_payment_phee.web.app import create_app

# Run as a script, this file's folder is on sys.path: the sibling benchmark's bulk set-up.
from prepare import PG_ADMIN, _pg_url, setup

TARGET_MS = 300.0
PASSWORD = "bench-viewer-password"


def settle(url: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Mark 98 % of the payments paid and 2 % failed; batches completed with their counters.
    Returns the cycle, its first batch and a batch holding failed payments."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE payments SET state = 'reconciled', "
                "status = CASE WHEN batch_row % 50 = 7 THEN 'failed' ELSE 'paid' END, "
                "live = (batch_row % 50 <> 7), "
                "amount_paid = CASE WHEN batch_row % 50 = 7 THEN NULL ELSE amount_issued END, "
                "failure_reason = CASE WHEN batch_row % 50 = 7 "
                "THEN 'Payee FSP temporarily unavailable' END, "
                "sent_at = now(), settled_at = now(), phee_transaction_id = left(id::text, 8)"
            )
        )
        conn.execute(
            text(
                "UPDATE payment_batches b SET state = 'completed', completed_at = now(), "
                "submitted_at = now(), phee_batch_id = b.correlation_id, "
                "sent_count = s.n, sent_amount = s.amount, paid_count = s.paid, "
                "paid_amount = s.paid_amount, failed_count = s.failed, "
                "failed_amount = s.failed_amount FROM ("
                "SELECT batch_id, count(*) n, sum(amount_issued) amount, "
                "count(*) FILTER (WHERE status = 'paid') paid, "
                "coalesce(sum(amount_issued) FILTER (WHERE status = 'paid'), 0) paid_amount, "
                "count(*) FILTER (WHERE status = 'failed') failed, "
                "coalesce(sum(amount_issued) FILTER (WHERE status = 'failed'), 0) failed_amount "
                "FROM payments GROUP BY batch_id) s WHERE s.batch_id = b.id"
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    factory = make_session_factory(engine)
    with factory() as session:
        cycle_id = session.scalars(select(Cycle.id)).one()
        batches = select(PaymentBatch.id).where(PaymentBatch.cycle_id == cycle_id)
        first = session.scalars(batches.order_by(PaymentBatch.sequence).limit(1)).one()
        last = session.scalars(batches.order_by(PaymentBatch.sequence.desc()).limit(1)).one()
    engine.dispose()
    return cycle_id, first, last


def prepare(url: str) -> float:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        session.add(
            User(username="viewer", role=Role.VIEWER, password_hash=hash_password(PASSWORD))
        )
    started = time.perf_counter()
    with unit_of_work(factory) as session:
        admin = session.scalars(select(User).where(User.username == "bench")).one()
        cycle = session.scalars(select(Cycle)).one()
        report = payments.prepare_cycle(session, admin, cycle)
    seconds = time.perf_counter() - started
    print(f"prepare_cycle: {report.created} payments, {report.batches} batches in {seconds:.1f} s")
    engine.dispose()
    return seconds


def signed_in(client: TestClient) -> None:
    import re

    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    answer = client.post(
        "/login",
        data={"username": "viewer", "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def api_token(engine: Any) -> str:
    """A personal API token of the viewer, for the API's answers."""
    with unit_of_work(make_session_factory(engine)) as session:
        viewer = session.scalars(select(User).where(User.username == "viewer")).one()
        return create_api_token(session, viewer, "bench").token


def measure(client: TestClient, url: str, repeats: int) -> list[float]:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = client.get(url)
        runs.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200
    return runs


def next_page(client: TestClient, url: str, pages: int) -> str:
    """The address of the page ``pages`` further on (following the pager's links), or of the
    last page when the list is shorter (small ``--n``)."""
    import html
    import re

    for _ in range(pages):
        page = client.get(url).text
        found = re.search(r'<a href="(\?[^"]*cursor=[^"]+)"(?: rel="next")?>\s*Next', page)
        if found is None:
            break
        url = url.split("?", 1)[0] + html.unescape(found.group(1))
    return url


def previous_page(client: TestClient, url: str) -> str:
    """The address the pager's Previous link of ``url`` leads to."""
    import html
    import re

    found = re.search(r'<a href="(\?[^"]*cursor=[^"]+)" rel="prev">', client.get(url).text)
    return url.split("?", 1)[0] + html.unescape(found.group(1)) if found else url


def run(n: int, repeats: int) -> list[dict[str, Any]]:
    name = f"g2p_bench_pages_{uuid.uuid4().hex[:8]}"
    url = _pg_url(name)
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        started = time.perf_counter()
        setup(url, n)
        print(f"set-up: {n} approved entitlements in {time.perf_counter() - started:.1f} s")
        prepare(url)
        cycle, first, last = settle(url)
        engine = make_engine(url)
        rows: list[dict[str, Any]] = []
        with TestClient(create_app(make_session_factory(engine))) as client:
            signed_in(client)
            bearer = {"Authorization": f"Bearer {api_token(engine)}"}
            pages: list[tuple[str, Callable[[], str]]] = [
                ("baseline: /healthz (no database)", lambda: "/healthz"),
                ("dashboard", lambda: "/"),
                ("cycle page", lambda: f"/cycles/{cycle}"),
                ("API: the cycle's answer (people, attempts)", lambda: f"/api/v1/cycles/{cycle}"),
                (
                    "API: the cycle's entitlements (outcomes)",
                    lambda: f"/api/v1/cycles/{cycle}/entitlements",
                ),
                ("cycle's batches, first page", lambda: f"/cycles/{cycle}/batches"),
                (
                    "cycle's batches, 15th page",
                    lambda: next_page(client, f"/cycles/{cycle}/batches", 14),
                ),
                ("cycle's entitlements, first page", lambda: f"/cycles/{cycle}/entitlements"),
                (
                    "cycle's entitlements, 20th page",
                    lambda: next_page(client, f"/cycles/{cycle}/entitlements", 19),
                ),
                (
                    "approved entitlements of the cycle",
                    lambda: f"/cycles/{cycle}/entitlements?state=approved",
                ),
                ("batch page (first batch)", lambda: f"/batches/{first}"),
                ("batch page (last batch)", lambda: f"/batches/{last}"),
                ("batch page, failed only", lambda: f"/batches/{last}?status=failed"),
                ("payments of the cycle", lambda: f"/payments?cycle={cycle}"),
                (
                    "payments of the cycle, 20th page",
                    lambda: next_page(client, f"/payments?cycle={cycle}", 19),
                ),
                ("failed payments of the cycle", lambda: f"/payments?cycle={cycle}&status=failed"),
                ("paid payments of the cycle", lambda: f"/payments?cycle={cycle}&status=paid"),
                (
                    "sent payments of the cycle (none left)",
                    lambda: f"/payments?cycle={cycle}&state=sent",
                ),
                (
                    "issued payments of the cycle (none left)",
                    lambda: f"/payments?cycle={cycle}&state=issued",
                ),
                ("payments of one batch", lambda: f"/payments?batch={last}"),
                ("payments of the cycle chosen by name", lambda: "/payments?cycle=C1"),
                (
                    "payments of the cycle, newest first",
                    lambda: f"/payments?cycle={cycle}&sort=-created",
                ),
                ("payments of the cycle, last page", lambda: f"/payments?cycle={cycle}&page=last"),
                (
                    "payments, previous page from the last",
                    lambda: previous_page(client, f"/payments?cycle={cycle}&page=last"),
                ),
                ("payments searched: name start (11)", lambda: "/payments?q=person+12345"),
                ("payments searched: name start (111,111)", lambda: "/payments?q=person+1"),
                ("payments searched: phone", lambda: "/payments?q=%2B254700012345"),
                ("payments searched: entitlement code", lambda: "/payments?q=E0000012345"),
                (
                    "cycle's entitlements by code, descending",
                    lambda: f"/cycles/{cycle}/entitlements?sort=-code",
                ),
                (
                    "cycle's entitlements searched: name",
                    lambda: f"/cycles/{cycle}/entitlements?q=person+12345",
                ),
                ("registrants by name", lambda: "/registrants?sort=name"),
                ("registrants by name, last page", lambda: "/registrants?sort=name&page=last"),
            ]
            for label, address in pages:
                client.headers.update(bearer if label.startswith("API") else {})
                if not label.startswith("API"):
                    client.headers.pop("Authorization", None)
                runs = measure(client, address(), repeats)
                rows.append({"page": label, "median": statistics.median(runs), "max": max(runs)})
        engine.dispose()
        return rows
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def print_table(n: int, rows: list[dict[str, Any]]) -> None:
    print(f"\npages of a {n:,}-payment cycle on PostgreSQL (ms, server side; target < 300)")
    print(f"{'page':<40} {'median':>8} {'slowest':>8}  target")
    for row in rows:
        baseline = row["page"].startswith("baseline")
        verdict = "" if baseline else ("met" if row["max"] < TARGET_MS else "NOT MET")
        print(f"{row['page']:<40} {row['median']:>8.1f} {row['max']:>8.1f}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rows = run(args.n, args.repeats)
    print_table(args.n, rows)
    sys.exit(0 if all(r["max"] < TARGET_MS for r in rows) else 1)


if __name__ == "__main__":
    main()
