"""The upload faults that change when and how often a batch is stored: ``late_store`` (a busy hub
stores the upload after the client gave up) and ``store_twice`` (a retrying proxy stores it twice).
Real loopback servers; holds end through ``release_hangs()``, never by sleeping."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest

from g2p_payment_phee.emulator import EmulatorConfig, EmulatorServer

from .support import batch_id_of, csv_file, rows, upload

GORILLA = {"Platform-TenantId": "gorilla"}
T = TypeVar("T")


def _listed(client: httpx.Client, correlation_id: str) -> list[dict[str, Any]]:
    listing = client.get("/api/v1/batches", params={"limit": 100}, headers=GORILLA).json()
    return [b for b in listing["data"] if b["requestId"] == correlation_id]


def _stored(hub: EmulatorServer) -> int:
    return hub.call(lambda state: len(state.store))


def _connections(hub: EmulatorServer) -> int:
    return hub.call(lambda state: len(state.connections))


def _poll(probe: Callable[[], T], done: Callable[[T], bool], timeout: float = 5.0) -> T:
    deadline = time.monotonic() + timeout
    while not done(value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} s")
        time.sleep(0.01)
    return value


def _request_ids(content: bytes) -> list[str]:
    return [line.split(",")[1] for line in content.decode().splitlines()[1:]]


def test_late_store_holds_the_upload_until_released_even_after_the_client_left(
    client, hub: EmulatorServer
):
    hub.set_faults({"rules": [{"kind": "late_store", "seconds": 600, "times": 1}]})
    correlation_id = str(uuid.uuid4())
    content = csv_file(rows(3))
    open_before = _connections(hub)
    with (
        httpx.Client(base_url=hub.base_url) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        upload(impatient, content, correlation_id=correlation_id, timeout=0.5)
    assert hub.wait_for_held(1) == 1
    # The server has seen the client go, and still nothing is stored.
    _poll(lambda: _connections(hub), lambda n: n <= open_before)
    assert _listed(client, correlation_id) == []
    assert _stored(hub) == 0
    assert hub.inspect()["request_ids"] == {}

    released_at_ms = int(time.time() * 1000)
    hub.release_hangs()
    found = _poll(lambda: _listed(client, correlation_id), lambda b: len(b) == 1)
    assert found[0]["totalTransactions"] == 3
    assert found[0]["startedAt"] >= released_at_ms  # stamped when stored, not when sent
    report = hub.inspect()
    for request_id in _request_ids(content):
        assert report["request_ids"][request_id]["accepted"] == 1
    assert report["accepted_more_than_once"] == []
    assert hub.held_requests() == 0
    # times=1: the next upload is stored and answered at once.
    assert upload(client, csv_file(rows(1))).status_code == 202


def test_late_store_answers_a_client_that_waited(hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "late_store", "seconds": 600}]})
    correlation_id = str(uuid.uuid4())
    with (
        httpx.Client(base_url=hub.base_url, timeout=30) as patient,
        ThreadPoolExecutor(1) as pool,
    ):
        pending = pool.submit(upload, patient, csv_file(rows(2)), correlation_id=correlation_id)
        hub.wait_for_held(1)
        assert _stored(hub) == 0
        assert not pending.done()
        hub.release_hangs()
        response = pending.result(timeout=10)
        found = _listed(patient, correlation_id)
    assert [b["batchId"] for b in found] == [batch_id_of(response)]


def test_late_store_still_runs_the_upload_checks(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "late_store", "seconds": 600}]})
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(upload, client, csv_file(rows(1)), tenant="nowhere")
        hub.wait_for_held(1)
        hub.release_hangs()
        assert pending.result(timeout=10).status_code == 412
    assert _stored(hub) == 0


def test_late_store_times_lets_later_uploads_through(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "late_store", "seconds": 600, "times": 1}]})
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=hub.base_url, timeout=30) as other:
        held = pool.submit(upload, other, csv_file(rows(1)), correlation_id=first)
        hub.wait_for_held(1)
        assert upload(client, csv_file(rows(1)), correlation_id=second).status_code == 202
        assert len(_listed(client, second)) == 1
        assert _listed(client, first) == []
        hub.release_hangs()
        assert held.result(timeout=10).status_code == 202
    assert len(_listed(client, first)) == 1
    assert client.get("/_emulator/faults").json()["fired"] == [1]


def _expected_fires(seed: int, rate: float, draws: int) -> int:
    rng = random.Random(seed)
    return sum(rng.random() < rate for _ in range(draws))


def test_late_store_rate_uses_the_seeded_draws(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "late_store", "seconds": 0, "rate": 0.5}]})
    statuses = [upload(client, csv_file(rows(1))).status_code for _ in range(20)]
    assert statuses == [202] * 20
    fired = client.get("/_emulator/faults").json()["fired"]
    assert fired == [_expected_fires(0, 0.5, 20)]
    assert 0 < fired[0] < 20
    assert _stored(hub) == 20


def test_store_twice_stores_two_batches_under_one_correlation_id(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "store_twice", "times": 1}]})
    correlation_id = str(uuid.uuid4())
    content = csv_file(rows(3))
    response = upload(client, content, correlation_id=correlation_id)
    found = _listed(client, correlation_id)
    assert len(found) == 2
    assert len({b["batchId"] for b in found}) == 2
    assert batch_id_of(response) in {b["batchId"] for b in found}
    assert all(b["totalTransactions"] == 3 for b in found)
    report = hub.inspect()
    request_ids = _request_ids(content)
    for request_id in request_ids:
        entry = report["request_ids"][request_id]
        assert entry["accepted"] == 2
        assert sorted(entry["batch_ids"]) == sorted(b["batchId"] for b in found)
    assert report["accepted_more_than_once"] == sorted(request_ids)
    hub.complete_all()
    assert hub.inspect()["paid_more_than_once"] == sorted(request_ids)
    # times=1: the next upload is stored once.
    again = str(uuid.uuid4())
    upload(client, csv_file(rows(1)), correlation_id=again)
    assert len(_listed(client, again)) == 1


def test_store_twice_answers_with_the_first_store(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "store_twice", "times": 1}]})
    response = upload(client, csv_file(rows(1)))
    batch_ids = hub.call(lambda state: [b.batch_id for b in state.store])
    assert len(batch_ids) == 2
    first = hub.call(lambda state: min(state.store, key=lambda b: b.seq).batch_id)
    assert batch_id_of(response) == first


def test_store_twice_keeps_channel_idempotency_as_configured(client, hub: EmulatorServer):
    hub.update_config({"processing": {"channel_idempotency": True}})
    hub.set_faults({"rules": [{"kind": "store_twice"}]})
    correlation_id = str(uuid.uuid4())
    content = csv_file(rows(2))
    assert upload(client, content, correlation_id=correlation_id).status_code == 202
    assert len(_listed(client, correlation_id)) == 2
    report = hub.inspect()
    for request_id in _request_ids(content):
        assert report["request_ids"][request_id]["accepted"] == 1
        assert report["request_ids"][request_id]["rejected"] == 1
    assert report["accepted_more_than_once"] == []


def test_store_twice_rate_uses_the_seeded_draws(client, hub: EmulatorServer):
    hub.set_faults({"rules": [{"kind": "store_twice", "rate": 0.3}]})
    for _ in range(20):
        assert upload(client, csv_file(rows(1))).status_code == 202
    fires = _expected_fires(0, 0.3, 20)
    assert client.get("/_emulator/faults").json()["fired"] == [fires]
    assert 0 < fires < 20
    assert _stored(hub) == 20 + fires


def test_upload_only_kinds_are_validated(client, hub: EmulatorServer):
    for kind in ("late_store", "store_twice"):
        response = client.put("/_emulator/faults", json={"rules": [{"kind": kind}]})
        assert response.status_code == 200
        assert response.json()["rules"][0]["endpoints"] == ["upload"]
        assert response.json()["rules"][0]["after_store"] is False
        bad_endpoint = {"rules": [{"kind": kind, "endpoints": ["upload", "status"]}]}
        assert client.put("/_emulator/faults", json=bad_endpoint).status_code == 422
        bad_after = {"rules": [{"kind": kind, "after_store": True}]}
        assert client.put("/_emulator/faults", json=bad_after).status_code == 422
    # A round trip through the config keeps the rule valid.
    patched = client.patch(
        "/_emulator/config", json={"faults": {"rules": [{"kind": "late_store", "seconds": 2}]}}
    )
    assert patched.status_code == 200
    assert client.get("/_emulator/faults").json()["held"] == 0


def test_stopping_stores_a_held_upload_instead_of_waiting(tmp_path):
    config = EmulatorConfig.model_validate(
        {
            "sqlite_path": str(tmp_path / "phee.sqlite3"),
            "faults": {"rules": [{"kind": "late_store", "seconds": 600}]},
        }
    )
    correlation_id = str(uuid.uuid4())
    content = csv_file(rows(2))
    server = EmulatorServer(config).start()
    thread = server._thread
    with httpx.Client(base_url=server.base_url) as http, pytest.raises(httpx.ReadTimeout):
        upload(http, content, correlation_id=correlation_id, timeout=0.5)
    server.wait_for_held(1)
    assert server.call(lambda state: len(state.store)) == 0
    server.stop()
    assert thread is not None
    assert not thread.is_alive()
    with EmulatorServer(config) as again:
        report = again.inspect()
        with httpx.Client(base_url=again.base_url) as http:
            assert len(_listed(http, correlation_id)) == 1
    for request_id in _request_ids(content):
        assert report["request_ids"][request_id]["accepted"] == 1
