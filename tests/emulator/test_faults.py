"""Every fault option, over real HTTP: what the client sees and what the emulator stored."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from g2p_payment_phee.emulator import EmulatorConfig, EmulatorServer

from .support import batch_id_of, csv_file, rows, summary, upload

GORILLA = {"Platform-TenantId": "gorilla"}


def _stored_batches(hub: EmulatorServer) -> int:
    return hub.call(lambda state: len(state.store))


def _find_by_correlation_id(client: httpx.Client, correlation_id: str) -> list[dict[str, Any]]:
    listing = client.get("/api/v1/batches", params={"limit": 100}, headers=GORILLA).json()
    return [b for b in listing["data"] if b["requestId"] == correlation_id]


def test_5xx_before_store_stores_nothing(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "error_5xx", "endpoints": ["upload"], "status": 503}]})
    response = upload(client, csv_file(rows(2)))
    assert response.status_code == 503
    assert "text/html" in response.headers["content-type"]
    assert _stored_batches(hub) == 0


def test_5xx_after_store_keeps_the_batch(client, hub: EmulatorServer):
    hub.set_faults(
        {
            "rules": [
                {"kind": "error_5xx", "endpoints": ["upload"], "after_store": True, "status": 502}
            ]
        }
    )
    correlation_id = str(uuid.uuid4())
    response = upload(client, csv_file(rows(2)), correlation_id=correlation_id)
    assert response.status_code == 502
    found = _find_by_correlation_id(client, correlation_id)
    assert len(found) == 1
    assert found[0]["totalTransactions"] == 2


def test_faults_target_only_their_endpoints(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "error_5xx", "endpoints": ["status"]}]})
    batch_id = batch_id_of(upload(client, csv_file(rows(1))))
    assert client.get(f"/api/v1/batch/{batch_id}", headers=GORILLA).status_code == 503
    assert (
        client.get("/api/v1/batch", params={"batchId": batch_id}, headers=GORILLA).status_code
        == 503
    )
    assert (
        client.get(
            "/api/v1/batch/detail", params={"batchId": batch_id}, headers=GORILLA
        ).status_code
        == 200
    )
    assert client.get("/api/v1/batches", headers=GORILLA).status_code == 200
    assert client.get("/_emulator/inspect").status_code == 200


def test_times_limits_how_often_a_rule_fires(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "error_5xx", "endpoints": ["upload"], "times": 2}]})
    statuses = [upload(client, csv_file(rows(1))).status_code for _ in range(4)]
    assert statuses == [503, 503, 202, 202]
    assert client.get("/_emulator/faults").json()["fired"] == [2]


def _pattern(seed: int) -> list[int]:
    config = EmulatorConfig.model_validate(
        {"seed": seed, "faults": {"rules": [{"kind": "error_5xx", "rate": 0.5}]}}
    )
    with EmulatorServer(config) as server, httpx.Client(base_url=server.base_url) as http:
        return [http.get("/api/v1/batches", headers=GORILLA).status_code for _ in range(24)]


def test_fault_rate_is_deterministic_for_a_seed():
    first, again, other = _pattern(3), _pattern(3), _pattern(4)
    assert first == again
    assert first != other
    assert 3 < first.count(503) < 21


def test_slow_answers_add_latency(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "slow", "endpoints": ["details"], "seconds": 0.3}]})
    started = time.perf_counter()
    response = client.get("/api/v1/batch/detail", params={"batchId": "x"}, headers=GORILLA)
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_hang_past_the_client_timeout_after_the_upload_was_stored(client, hub: EmulatorServer):
    hub.set_faults(
        {"rules": [{"kind": "hang", "endpoints": ["upload"], "seconds": 30, "times": 1}]}
    )
    correlation_id = str(uuid.uuid4())
    with pytest.raises(httpx.ReadTimeout):
        upload(client, csv_file(rows(3)), correlation_id=correlation_id, timeout=0.5)
    hub.release_hangs()
    assert len(_find_by_correlation_id(client, correlation_id)) == 1
    assert upload(client, csv_file(rows(1))).status_code == 202


def test_hang_before_store_answers_late_but_normally(client, hub: EmulatorServer):
    hub.set_faults(
        {"rules": [{"kind": "hang", "endpoints": ["token"], "after_store": False, "seconds": 0.2}]}
    )
    response = client.post(
        "/oauth/token",
        params={"username": "mifos", "password": "password", "grant_type": "password"},
        headers={"Authorization": "Basic Y2xpZW50Og==", **GORILLA},
    )
    assert response.status_code == 200


def test_drop_after_store_closes_the_connection_without_an_answer(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "drop", "endpoints": ["upload"], "times": 1}]})
    correlation_id = str(uuid.uuid4())
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        upload(client, csv_file(rows(4)), correlation_id=correlation_id)
    found = _find_by_correlation_id(client, correlation_id)
    assert len(found) == 1
    assert hub.inspect()["tenants"]["gorilla"]["accepted"] == 4
    assert upload(client, csv_file(rows(1))).status_code == 202


def test_drop_before_store_stores_nothing(client, hub: EmulatorServer):
    hub.set_faults(
        {"rules": [{"kind": "drop", "endpoints": ["upload"], "after_store": False, "times": 1}]}
    )
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        upload(client, csv_file(rows(2)))
    assert _stored_batches(hub) == 0


def test_drop_on_a_read_endpoint(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "drop", "endpoints": ["list"], "times": 1}]})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get("/api/v1/batches", headers=GORILLA)
    assert client.get("/api/v1/batches", headers=GORILLA).status_code == 200


def test_malformed_json_answer_after_the_upload_was_stored(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "malformed_json", "endpoints": ["upload"], "times": 1}]})
    correlation_id = str(uuid.uuid4())
    response = upload(client, csv_file(rows(2)), correlation_id=correlation_id)
    assert response.status_code == 202
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert len(_find_by_correlation_id(client, correlation_id)) == 1


def test_malformed_json_on_status(client, hub: EmulatorServer):
    batch_id = batch_id_of(upload(client, csv_file(rows(1))))
    hub.set_faults({"rules": [{"kind": "malformed_json", "endpoints": ["status"]}]})
    response = client.get(f"/api/v1/batch/{batch_id}", headers=GORILLA)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_token_expired_fault_answers_401(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "token_expired", "endpoints": ["details"], "times": 1}]})
    response = client.get(
        "/api/v1/batch/detail",
        params={"batchId": "x"},
        headers={**GORILLA, "Authorization": "Bearer abc"},
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "Access token expired: abc",
    }
    assert (
        client.get("/api/v1/batch/detail", params={"batchId": "x"}, headers=GORILLA).status_code
        == 200
    )


def test_faults_are_settable_over_http(client, hub: EmulatorServer):
    rule = {"kind": "error_5xx", "endpoints": ["upload"], "status": 500, "times": 1}
    response = client.put("/_emulator/faults", json={"rules": [rule]})
    assert response.status_code == 200
    assert upload(client, csv_file(rows(1))).status_code == 500
    assert client.put("/_emulator/faults", json={"rules": [{"kind": "explode"}]}).status_code == 422
    assert client.put("/_emulator/faults", json={"rules": []}).status_code == 200
    assert upload(client, csv_file(rows(1))).status_code == 202


def test_emulator_survives_every_fault_and_serves_other_tenants(client, hub: EmulatorServer):
    hub.set_faults(
        {
            "rules": [
                {"kind": "drop", "endpoints": ["upload"], "times": 1},
                {"kind": "malformed_json", "endpoints": ["upload"], "times": 1},
                {"kind": "error_5xx", "endpoints": ["upload"], "times": 1},
            ]
        }
    )
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        upload(client, csv_file(rows(1)))
    assert upload(client, csv_file(rows(1))).status_code == 202  # malformed body, still 202
    assert upload(client, csv_file(rows(1))).status_code == 503
    response = upload(client, csv_file(rows(2)), tenant="rhino")
    assert summary(client, batch_id_of(response), "rhino")["successful"] == 2
