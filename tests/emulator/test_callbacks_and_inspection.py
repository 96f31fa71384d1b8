"""The batch callback (X-CallbackURL) and the inspection API that proves "nobody paid twice"."""

from __future__ import annotations

import time
import uuid

from g2p_payment_phee.emulator import EmulatorServer

from .support import batch_id_of, csv_file, rows, summary, upload


def test_callback_is_sent_once_when_the_batch_completes(client, hub: EmulatorServer, receiver):
    correlation_id = str(uuid.uuid4())
    response = upload(
        client, csv_file(rows(3)), correlation_id=correlation_id, **{"X-CallbackURL": receiver.url}
    )
    batch_id = batch_id_of(response)
    received = receiver.next()
    assert received["path"] == "/callback"
    assert received["body"] == {
        "clientCorrelationId": correlation_id,
        "batchId": batch_id,
        "message": "The Batch Aggregation API was complete with : 100",
    }
    attempts = hub.settle_callbacks()
    assert receiver.received.empty()
    assert [(a["batch_id"], a["attempt"], a["status_code"]) for a in attempts] == [
        (batch_id, 1, 200)
    ]


def test_callback_waits_for_the_processing_delay(client, hub: EmulatorServer, receiver):
    hub.set_outcomes({"delay_seconds": 120})
    batch_id = batch_id_of(upload(client, csv_file(rows(2)), **{"X-CallbackURL": receiver.url}))
    hub.advance(119)
    assert hub.settle_callbacks() == []
    assert receiver.received.empty()
    hub.advance(1)
    assert receiver.next()["body"]["batchId"] == batch_id


def test_callback_percentage_counts_failures(client, hub: EmulatorServer, receiver):
    data = rows(4)
    hub.set_outcomes({"failing_payees": {data[0].split(",")[6]: "closed"}})
    upload(client, csv_file(data), **{"X-CallbackURL": receiver.url})
    assert receiver.next()["body"]["message"].endswith(": 75")


def test_callback_delay_holds_the_post_back(client, hub: EmulatorServer, receiver):
    hub.set_outcomes({"callback_delay_seconds": 0.5})
    started = time.perf_counter()
    batch_id = batch_id_of(upload(client, csv_file(rows(1)), **{"X-CallbackURL": receiver.url}))
    assert receiver.next()["body"]["batchId"] == batch_id
    assert time.perf_counter() - started >= 0.5


def test_duplicate_callbacks_fault(client, hub: EmulatorServer, receiver):
    hub.set_faults({"duplicate_callbacks": 2})
    batch_id = batch_id_of(upload(client, csv_file(rows(1)), **{"X-CallbackURL": receiver.url}))
    bodies = [receiver.next()["body"] for _ in range(3)]
    assert {b["batchId"] for b in bodies} == {batch_id}
    assert [a["attempt"] for a in hub.settle_callbacks()] == [1, 2, 3]
    assert receiver.received.empty()


def test_no_callback_without_url_and_unreachable_callbacks_are_recorded(
    client, hub: EmulatorServer
):
    batch_id_of(upload(client, csv_file(rows(1))))
    assert hub.callbacks() == []
    hub.set_outcomes({"delay_seconds": 10})
    upload(client, csv_file(rows(1)), **{"X-CallbackURL": "http://127.0.0.1:9/nowhere"})
    hub.advance(10)
    attempt = hub.wait_for_callbacks(1)[0]
    assert attempt["status_code"] is None
    assert attempt["error"]
    assert summary(client, attempt["batch_id"])["successful"] == 1


def test_inspection_counts_acceptances_and_payments(client, hub: EmulatorServer, fixtures_dir):
    data = rows(2)
    content = csv_file(data)
    upload(client, content)
    upload(client, content)  # the same request_ids again: paid twice
    upload(client, (fixtures_dir / "deduplication-test.csv").read_bytes(), tenant="rhino")
    report = hub.inspect()
    rid = data[0].split(",")[1]
    assert report["request_ids"][rid]["accepted"] == 2
    assert report["request_ids"][rid]["paid"] == 2
    assert report["request_ids"][rid]["final_status"] == "COMPLETED"
    assert rid in report["paid_more_than_once"]
    duplicate = report["request_ids"]["l9f6ac4d052e-72aa3ea4-e6f6-4880-877f"]
    assert (duplicate["accepted"], duplicate["rejected"], duplicate["final_status"]) == (
        0,
        1,
        "FAILED",
    )
    assert report["tenants"]["gorilla"] == {
        "batches": 2,
        "rows": 4,
        "accepted": 4,
        "paid": 4,
        "failed": 0,
        "in_progress": 0,
        "rejected": 0,
        "paid_amount": 40,
    }
    assert report["tenants"]["rhino"]["rejected"] == 1
    assert hub.inspect("rhino")["tenants"].keys() == {"rhino"}


def test_inspection_reports_in_progress_and_failed(client, hub: EmulatorServer):
    hub.set_outcomes({"delay_seconds": 30, "failure_rate": 1.0})
    data = rows(1)
    upload(client, csv_file(data))
    rid = data[0].split(",")[1]
    running = hub.request_status(rid)
    assert running is not None
    assert running["final_status"] == "IN_PROGRESS"
    hub.advance(30)
    status = hub.request_status(rid)
    assert status is not None
    assert (status["final_status"], status["failed"], status["paid"]) == ("FAILED", 1, 0)
    assert hub.request_status("never-seen") is None


def test_inspection_over_http(client):
    data = rows(1)
    upload(client, csv_file(data))
    rid = data[0].split(",")[1]
    assert client.get("/_emulator/inspect").json()["request_ids"][rid]["accepted"] == 1
    assert client.get(f"/_emulator/inspect/{rid}").json()["paid"] == 1
    assert client.get("/_emulator/inspect/nope").status_code == 404
    batches = client.get("/_emulator/batches").json()
    assert len(batches) == 1
    assert batches[0]["rows"] == 1


def test_admin_endpoints_over_http(client):
    assert client.put("/_emulator/outcomes", json={"delay_seconds": 50}).status_code == 200
    assert client.get("/_emulator/outcomes").json()["delay_seconds"] == 50
    batch_id = batch_id_of(upload(client, csv_file(rows(1))))
    assert summary(client, batch_id)["ongoing"] == 1
    assert client.post("/_emulator/clock/advance", json={"seconds": 50}).status_code == 200
    assert summary(client, batch_id)["successful"] == 1
    patched = client.patch("/_emulator/config", json={"processing": {"sub_batch_size": 3}})
    assert patched.json()["processing"]["sub_batch_size"] == 3
    assert client.patch("/_emulator/config", json={"sqlite_path": "/tmp/x"}).status_code == 422
    assert (
        client.patch("/_emulator/config", json={"outcomes": {"failure_rate": 2}}).status_code == 422
    )
    assert client.post("/_emulator/complete-all").json() == {"finished": 0}
    assert client.post("/_emulator/reset").status_code == 200
    assert client.get("/_emulator/batches").json() == []
    assert client.get("/_emulator/config").json()["processing"]["sub_batch_size"] == 3
