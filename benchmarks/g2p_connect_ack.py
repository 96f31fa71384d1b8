"""Benchmark: how long a G2P Connect disburse of 10,000 records (the per-request limit) takes
to be acked.

    python benchmarks/g2p_connect_ack.py [--records 10000] [--backend sqlite|postgres] [--runs 3]

A fresh database (a temporary SQLite file, or a PostgreSQL database created and dropped at
``G2P_TEST_POSTGRES_URL``'s server), a KES program paid by the default manager (payees by
phone), one sender; the app in this process (``TestClient``, its in-process job runner on).
Each run posts a new transaction of ``--records`` records to ``/g2p-connect/disburse`` and
times the call, token excluded; the intake job then runs in the background and is waited for
before the next run (its time is printed too, not part of the figure). Target: under 1 s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from g2p_payment_phee.db import make_engine, make_session_factory, migrate, unit_of_work
from g2p_payment_phee.g2p_connect.senders import SenderRequest, add_sender
from g2p_payment_phee.jobs.runner import InProcessRunner
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.programs.models import ManagerKind
from g2p_payment_phee.programs.service import create_program
from g2p_payment_phee.security import hash_password
from g2p_payment_phee.users.models import Role, User
from g2p_payment_phee.web.app import create_app
from prepare import PG_ADMIN, _pg_url


def _database(backend: str, folder: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{folder / 'bench.sqlite3'}", None
    name = f"g2pc_ack_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _pg_url(name), name


def _drop(name: str) -> None:
    admin = create_engine(
        PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _body(sender: str, transaction: str, records: int) -> bytes:
    items = [
        {
            "reference_id": f"{transaction}-{i}",
            "payer_fa": "",
            "payee_fa": f"mobile:+2547{i:08d}@mpesa",
            "amount": "100.00",
            "currency_code": "KES",
        }
        for i in range(records)
    ]
    header = {
        "version": "1.0.0",
        "message_id": str(uuid.uuid4()),
        "message_ts": "2026-12-08T00:00:00Z",
        "action": "disburse",
        "sender_id": sender,
        "total_count": records,
    }
    message = {"transaction_id": transaction, "disbursements": items}
    return json.dumps({"header": header, "message": message}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url, pg_name = _database(args.backend, Path(folder))
        try:
            engine = make_engine(url)
            migrate(engine)
            factory = make_session_factory(engine)
            with unit_of_work(factory) as session:
                admin = User(
                    username="admin", role=Role.ADMIN, password_hash=hash_password("x" * 12)
                )
                session.add(admin)
                session.flush()
                program = create_program(
                    session, admin, name="Bench", currency="KES", manager_kind=ManagerKind.DEFAULT
                )
                configure_manager(
                    session, admin, program, ManagerKind.DEFAULT, {"payee_id_type": "phone"}
                )
                _, secret = add_sender(session, admin, SenderRequest("bench-mis", program))
            with TestClient(create_app(factory)) as client:
                form = {
                    "grant_type": "client_credentials",
                    "client_id": "bench-mis",
                    "client_secret": secret,
                }
                token = client.post("/g2p-connect/oauth2/client/token", data=form).json()[
                    "access_token"
                ]
                headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
                runner = client.app.state.job_runner  # type: ignore[attr-defined]
                assert isinstance(runner, InProcessRunner)
                print(f"{args.records} records per request, {args.backend}")
                print("run | ack (s) | status | intake job after the ack (s)")
                for run in range(args.runs):
                    body = _body("bench-mis", f"T{run}", args.records)
                    started = time.perf_counter()
                    answer = client.post("/g2p-connect/disburse", content=body, headers=headers)
                    acked = time.perf_counter() - started
                    status = answer.json()["message"]["ack_status"]
                    runner.wait_idle(timeout=600)
                    intake = time.perf_counter() - started - acked
                    print(f"{run + 1:3d} | {acked:7.3f} | {status:6s} | {intake:6.1f}")
            engine.dispose()
        finally:
            if pg_name is not None:
                _drop(pg_name)


if __name__ == "__main__":
    main()
