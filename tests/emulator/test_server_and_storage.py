"""Running the emulator: in-process server, SQLite persistence across restarts, the CLI, and
the rule that the emulator shares no code with the rest of the product."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx
import pytest

from g2p_payment_phee.emulator import EmulatorConfig, EmulatorServer, create_app
from g2p_payment_phee.emulator.cli import load_config

from .support import batch_id_of, csv_file, detail, rows, summary, upload


def test_two_servers_run_side_by_side_on_free_ports():
    with EmulatorServer() as one, EmulatorServer() as two:
        assert one.port != two.port
        for server in (one, two):
            assert httpx.get(f"{server.base_url}/actuator/health").json() == {"status": "UP"}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{one.base_url}/actuator/health")


def test_admin_helpers_need_a_started_server():
    server = EmulatorServer()
    with pytest.raises(RuntimeError):
        server.inspect()
    server.stop()  # stopping a server that never started is harmless


def test_unknown_paths_get_spring_errors(client):
    response = client.get("/no/such/path")
    assert response.status_code == 404
    assert response.json()["error"] == "Not Found"
    wrong_method = client.get("/batchtransactions")
    assert wrong_method.status_code == 405


def test_create_app_exposes_its_state():
    app = create_app(EmulatorConfig(tenants=["solo"]))
    assert app.state.emulator.known_tenant("solo")
    assert not app.state.emulator.known_tenant("gorilla")


def test_sqlite_storage_survives_a_restart(tmp_path):
    config = EmulatorConfig.model_validate(
        {"sqlite_path": tmp_path / "phee.sqlite3", "outcomes": {"delay_seconds": 3600}}
    )
    data = rows(7)
    with EmulatorServer(config) as first, httpx.Client(base_url=first.base_url) as http:
        finished = batch_id_of(upload(http, csv_file(rows(2))))
        first.complete_all()
        pending = batch_id_of(upload(http, csv_file(data)))
        before = detail(http, pending, pageSize=10)["content"]
        token = http.post(
            "/oauth/token",
            params={"username": "mifos", "password": "password", "grant_type": "password"},
            headers={"Authorization": "Basic Y2xpZW50Og==", "Platform-TenantId": "gorilla"},
        ).json()["access_token"]
    restarted = config.model_copy(
        update={"auth": config.auth.model_copy(update={"enforce_bearer": True})}
    )
    with EmulatorServer(restarted) as second, httpx.Client(base_url=second.base_url) as http:
        headers = {"Platform-TenantId": "gorilla", "Authorization": f"Bearer {token}"}
        done = http.get(f"/api/v1/batch/{finished}", headers=headers).json()
        assert (done["total"], done["successful"]) == (2, 2)
        after = http.get(
            "/api/v1/batch/detail", params={"batchId": pending, "pageSize": 10}, headers=headers
        )
        assert [t["transactionId"] for t in after.json()["content"]] == [
            t["transactionId"] for t in before
        ]
        assert {t["status"] for t in after.json()["content"]} == {"IN_PROGRESS"}
        subs = http.get(
            f"/api/v1/batches/{pending}", headers={**headers, "X-Correlation-ID": "x"}
        ).json()
        assert [s["total"] for s in subs["subBatchSummaryList"]] == [5, 2]
        second.complete_all()
        assert http.get(f"/api/v1/batch/{pending}", headers=headers).json()["successful"] == 7
        assert second.inspect()["tenants"]["gorilla"]["batches"] == 2
        new = batch_id_of(upload(http, csv_file(rows(1))))
        assert new not in (finished, pending)


def test_reset_empties_the_sqlite_file(tmp_path):
    config = EmulatorConfig(sqlite_path=tmp_path / "phee.sqlite3")
    with EmulatorServer(config) as server, httpx.Client(base_url=server.base_url) as http:
        upload(http, csv_file(rows(1)))
        server.reset()
    with EmulatorServer(config) as server:
        assert server.inspect()["tenants"] == {}


def test_load_config_reads_json_and_toml(tmp_path):
    json_file = tmp_path / "emulator.json"
    json_file.write_text(
        json.dumps({"seed": 9, "tenants": ["alpha"], "outcomes": {"delay_seconds": 2}})
    )
    toml_file = tmp_path / "emulator.toml"
    toml_file.write_text(
        'seed = 5\ntenants = ["beta"]\n[processing]\nsub_batch_size = 3\n'
        '[[faults.rules]]\nkind = "drop"\nendpoints = ["upload"]\ntimes = 1\n'
    )
    from_json = load_config(json_file)
    assert (from_json.seed, from_json.tenants, from_json.outcomes.delay_seconds) == (
        9,
        ["alpha"],
        2,
    )
    from_toml = load_config(toml_file)
    assert from_toml.processing.sub_batch_size == 3
    assert from_toml.faults.rules[0].after_store is True
    assert load_config(None) == EmulatorConfig()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sead": 1}))
    with pytest.raises(ValueError, match="sead"):
        load_config(bad)


def test_python_m_runs_the_emulator_standalone(tmp_path):
    config = tmp_path / "emulator.json"
    config.write_text(json.dumps({"tenants": ["standalone"]}))
    process = subprocess.Popen(
        [sys.executable, "-m", "g2p_payment_phee.emulator", "--port", "0", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        port = None
        for line in process.stderr:  # readiness: uvicorn's "running on" line carries the port
            match = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
                break
        assert port is not None
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base) as http:
            assert http.get("/actuator/health").json() == {"status": "UP"}
            response = upload(http, csv_file(rows(2)), tenant="standalone")
            assert summary(http, batch_id_of(response), "standalone")["total"] == 2
    finally:
        process.terminate()
        process.wait(timeout=10)
