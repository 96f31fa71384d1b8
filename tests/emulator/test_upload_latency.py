"""``processing.upload_latency_ms``: an accepted upload is answered that much later, stored at
once; nothing else waits, and the wait does not stop the emulator from serving others."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from g2p_payment_phee.emulator import EmulatorServer

from .support import batch_id_of, csv_file, rows, summary, upload

GORILLA = {"Platform-TenantId": "gorilla"}
TOKEN_QUERY = {"username": "mifos", "password": "password", "grant_type": "password"}
BASIC = {"Authorization": "Basic Y2xpZW50Og==", **GORILLA}


def _stored(hub: EmulatorServer) -> int:
    return hub.call(lambda state: len(state.store))


def test_an_accepted_upload_is_answered_after_the_latency(client, hub: EmulatorServer):
    hub.update_config({"processing": {"upload_latency_ms": 300}})
    started = time.perf_counter()
    response = upload(client, csv_file(rows(2)))
    assert response.status_code == 202
    assert time.perf_counter() - started >= 0.3
    assert _stored(hub) == 1


def test_a_refused_upload_is_not_held(client, hub: EmulatorServer):
    hub.update_config({"processing": {"upload_latency_ms": 60_000}})
    response = upload(client, csv_file(rows(1)), tenant="nowhere", timeout=10)
    assert response.status_code == 412
    assert hub.held_requests() == 0


def test_other_routes_answer_while_an_upload_is_held(client, hub: EmulatorServer):
    stored = batch_id_of(upload(client, csv_file(rows(3))))
    hub.update_config({"processing": {"upload_latency_ms": 60_000}})
    with (
        httpx.Client(base_url=hub.base_url, timeout=120) as patient,
        ThreadPoolExecutor(1) as pool,
    ):
        pending = pool.submit(upload, patient, csv_file(rows(2)))
        assert hub.wait_for_held(1) == 1
        # A minute's hold on these would outlast the client's ten-second timeout.
        assert summary(client, stored)["total"] == 3
        details = client.get("/api/v1/batch/detail", params={"batchId": stored}, headers=GORILLA)
        assert details.status_code == 200
        listing = client.get("/api/v1/batches", params={"limit": 10}, headers=GORILLA)
        assert listing.json()["totalBatches"] == 2  # the held upload is stored already
        token = client.post("/oauth/token", params=TOKEN_QUERY, headers=BASIC)
        assert token.status_code == 200
        assert not pending.done()
        hub.release_hangs()
        assert pending.result(timeout=10).status_code == 202
    assert hub.held_requests() == 0


def test_concurrent_uploads_are_held_side_by_side(hub: EmulatorServer):
    hub.update_config({"processing": {"upload_latency_ms": 60_000}})
    with (
        httpx.Client(base_url=hub.base_url, timeout=120) as patient,
        ThreadPoolExecutor(3) as pool,
    ):
        pending = [pool.submit(upload, patient, csv_file(rows(1))) for _ in range(3)]
        assert hub.wait_for_held(3) == 3
        assert _stored(hub) == 3
        hub.release_hangs()
        assert [p.result(timeout=10).status_code for p in pending] == [202, 202, 202]
