"""Processing like PHEE: sub-batches, payment modes, amounts, idempotency, outcomes and time."""

from __future__ import annotations

import uuid
from typing import Any

from g2p_payment_phee.emulator import EmulatorConfig, EmulatorServer

from .support import batch_id_of, csv_file, detail, rows, summary, upload

GORILLA = {"Platform-TenantId": "gorilla"}


def _stored(client, batch_id: str) -> dict[str, Any]:
    response = client.get("/api/v1/batch", params={"batchId": batch_id}, headers=GORILLA)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_unknown_mode_fails_the_whole_sub_batch_of_its_first_row(client):
    data = rows(5, mode="bank") + rows(5, start=5)
    data[1] = data[1].replace(",bank,", ",mojaloop,")  # not the first row: still "bank"
    batch_id = batch_id_of(
        upload(client, csv_file([f"{i}," + r.split(",", 1)[1] for i, r in enumerate(data)]))
    )
    content = detail(client, batch_id, pageSize=10)["content"]
    assert [t["status"] for t in content] == ["FAILED"] * 5 + ["COMPLETED"] * 5
    assert {t["errorInformation"] for t in content[:5]} == {"Payment mode not configured"}
    body = summary(client, batch_id)
    assert (body["failed"], body["successful"], body["status"]) == (5, 5, "Failed")


def test_mixed_modes_inside_a_sub_batch_follow_the_first_row(client):
    data = rows(3)
    data[2] = data[2].replace(",mojaloop,", ",bank,")
    content = detail(client, batch_id_of(upload(client, csv_file(data))))["content"]
    assert {t["status"] for t in content} == {"COMPLETED"}


def test_payment_modes_are_configurable_and_case_insensitive(client, hub: EmulatorServer):
    hub.update_config({"processing": {"payment_modes": {"BANK": "PAYMENT"}}})
    assert (
        summary(client, batch_id_of(upload(client, csv_file(rows(2, mode="bank")))))["successful"]
        == 2
    )
    response = upload(client, csv_file(rows(2, mode="mojaloop")))
    assert summary(client, batch_id_of(response))["failed"] == 2


def test_non_integer_amounts_fail_their_rows_only(client):
    data = rows(4)
    data[1] = data[1].replace(",10,USD", ",10.50,USD")
    data[2] = data[2].replace(",10,USD", ",,USD")
    data[3] = data[3].replace(",10,USD", ",-5,USD")
    content = detail(client, batch_id_of(upload(client, csv_file(data))))["content"]
    assert [t["status"] for t in content] == ["COMPLETED", "FAILED", "FAILED", "FAILED"]
    assert "10.50" in content[1]["errorInformation"]


def test_malformed_rows_fail(client):
    data = rows(3)
    data[1] = data[1] + ",extra,columns"
    data[2] = "x" + data[2]
    content = detail(client, batch_id_of(upload(client, csv_file(data))))["content"]
    assert [t["status"] for t in content] == ["COMPLETED", "FAILED", "FAILED"]
    assert content[1]["errorInformation"] == "Invalid data in file"


def test_channel_idempotency_is_off_by_default(client, fixtures_dir):
    data = (fixtures_dir / "ph-ee-bulk-demo-6.csv").read_bytes()
    for _ in range(2):
        assert summary(client, batch_id_of(upload(client, data)))["successful"] == 10


def test_channel_idempotency_fails_reused_request_ids(client, hub: EmulatorServer, fixtures_dir):
    hub.update_config({"processing": {"channel_idempotency": True}})
    data = (fixtures_dir / "ph-ee-bulk-demo-6.csv").read_bytes()
    first = summary(client, batch_id_of(upload(client, data)))
    assert (first["successful"], first["failed"]) == (2, 8)
    second = summary(client, batch_id_of(upload(client, data)))
    assert second["failed"] == 10
    failed = detail(client, second["batchId"])["content"][0]
    assert "TransactionExistsError" in failed["errorInformation"]
    other_tenant = upload(client, data, tenant="rhino")
    assert summary(client, batch_id_of(other_tenant), "rhino")["successful"] == 2


def test_deduplication_can_be_switched_off(client, hub: EmulatorServer, fixtures_dir):
    hub.update_config({"processing": {"deduplication": False}})
    response = upload(client, (fixtures_dir / "deduplication-test.csv").read_bytes())
    assert summary(client, batch_id_of(response))["successful"] == 3


def test_sub_batch_size_is_configurable(client, hub: EmulatorServer):
    hub.update_config({"processing": {"sub_batch_size": 2}})
    batch_id = batch_id_of(upload(client, csv_file(rows(5))))
    body = client.get(
        f"/api/v1/batches/{batch_id}", headers={**GORILLA, "X-Correlation-ID": "x"}
    ).json()
    assert [s["total"] for s in body["subBatchSummaryList"]] == [2, 2, 1]


def test_transfers_stay_in_progress_until_the_delay_has_passed(client, hub: EmulatorServer):
    hub.set_outcomes({"delay_seconds": 60})
    batch_id = batch_id_of(upload(client, csv_file(rows(3))))
    assert _stored(client, batch_id)["status"] == "Pending"
    running = summary(client, batch_id)
    assert (running["ongoing"], running["successful"], running["status"]) == (3, 0, "Failed")
    assert running["pendingAmount"] == 30
    assert {t["status"] for t in detail(client, batch_id)["content"]} == {"IN_PROGRESS"}
    assert {t["completedAt"] for t in detail(client, batch_id)["content"]} == {None}
    # the aggregate stamped completedAt: the stored row now reads UNKNOWN while running
    assert _stored(client, batch_id)["status"] == "UNKNOWN"
    hub.advance(59)
    assert summary(client, batch_id)["ongoing"] == 3
    hub.advance(1)
    done = summary(client, batch_id)
    assert (done["ongoing"], done["successful"], done["status"]) == (0, 3, "COMPLETED")
    assert {t["status"] for t in detail(client, batch_id)["content"]} == {"COMPLETED"}
    assert _stored(client, batch_id)["status"] == "COMPLETED"


def test_stored_summary_is_stale_until_an_aggregate_runs(client, hub: EmulatorServer):
    hub.set_outcomes({"delay_seconds": 60})
    batch_id = batch_id_of(upload(client, csv_file(rows(2))))
    hub.call(lambda state: state.clock.advance(61))  # time passes, no workflow run
    assert _stored(client, batch_id)["ongoing"] == 2
    assert summary(client, batch_id)["successful"] == 2
    assert _stored(client, batch_id)["successful"] == 2


def test_complete_all_finishes_everything_now(client, hub: EmulatorServer):
    hub.set_outcomes({"delay_seconds": 3600})
    ids = [batch_id_of(upload(client, csv_file(rows(2)))) for _ in range(3)]
    assert hub.complete_all() == 3
    for batch_id in ids:
        body = client.get(
            f"/api/v1/batches/{batch_id}", headers={**GORILLA, "X-Correlation-ID": "x"}
        ).json()
        assert (body["successful"], body["status"]) == (2, "COMPLETED")


def test_failing_payees_fail_with_their_reason(client, hub: EmulatorServer):
    data = rows(3)
    payee = data[1].split(",")[6]
    hub.set_outcomes({"failing_payees": {payee: "Payee account closed"}})
    content = detail(client, batch_id_of(upload(client, csv_file(data))))["content"]
    assert [t["status"] for t in content] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert content[1]["errorInformation"] == "Payee account closed"


def test_failure_rate_is_deterministic_for_a_seed():
    config = EmulatorConfig.model_validate({"seed": 42, "outcomes": {"failure_rate": 0.5}})
    content = csv_file(rows(40))
    correlation_id = str(uuid.uuid4())
    results = []
    for _ in range(2):
        with EmulatorServer(config) as server:
            import httpx

            with httpx.Client(base_url=server.base_url) as http:
                response = upload(http, content, correlation_id=correlation_id)
                page = detail(http, batch_id_of(response), pageSize=40)["content"]
                results.append([t["status"] for t in page])
    assert results[0] == results[1]
    assert 5 < results[0].count("FAILED") < 35


def test_failure_rate_one_fails_every_accepted_row(client, hub: EmulatorServer):
    hub.set_outcomes({"failure_rate": 1.0, "failure_reason": "Insufficient funds"})
    body = summary(client, batch_id_of(upload(client, csv_file(rows(4)))))
    assert (body["failed"], body["successful"], body["failedAmount"]) == (4, 0, 40)
    assert detail(client, body["batchId"])["content"][0]["errorInformation"] == "Insufficient funds"


def test_status_filter_matches_only_parent_transfers(client, fixtures_dir):
    """Faithful caveat: a status filter finds nothing in a split batch."""
    split = batch_id_of(upload(client, (fixtures_dir / "ph-ee-bulk-demo-6.csv").read_bytes()))
    assert detail(client, split, status="COMPLETED")["content"] == []
    assert len(detail(client, split, status="ALL")["content"]) == 10
    small = batch_id_of(upload(client, (fixtures_dir / "deduplication-test.csv").read_bytes()))
    assert len(detail(client, small, status="COMPLETED")["content"]) == 2
    assert len(detail(client, small, status="FAILED")["content"]) == 1


def test_detail_paging_envelope(client):
    batch_id = batch_id_of(upload(client, csv_file(rows(7))))
    first = detail(client, batch_id, pageNo=0, pageSize=3)
    last = detail(client, batch_id, pageNo=2, pageSize=3)
    assert (first["totalPages"], first["totalElements"], first["first"], first["last"]) == (
        3,
        7,
        True,
        False,
    )
    assert (len(last["content"]), last["last"], last["number"]) == (1, True, 2)
    assert first["pageable"]["pageSize"] == 3
    transfer = first["content"][0]
    assert isinstance(transfer["amount"], str)
    assert transfer["amount"] == "10"
    assert isinstance(transfer["startedAt"], int)
    assert uuid.UUID(transfer["transactionId"])


def test_detail_of_unknown_batch_is_an_empty_page(client):
    page = detail(client, "no-such-batch")
    assert page["content"] == []
    assert page["totalElements"] == 0


def test_detail_bad_paging_gets_spring_errors(client):
    bad = client.get(
        "/api/v1/batch/detail", params={"batchId": "x", "pageNo": "abc"}, headers=GORILLA
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "Bad Request"
    missing = client.get("/api/v1/batch/detail", headers=GORILLA)
    assert missing.status_code == 400
    assert "batchId" in missing.json()["message"]
    zero = client.get(
        "/api/v1/batch/detail", params={"batchId": "x", "pageSize": 0}, headers=GORILLA
    )
    assert zero.status_code == 500


def test_transactions_map(client):
    batch_id = batch_id_of(upload(client, csv_file(rows(3))))
    body = client.get(
        "/api/v1/batch/transactions", params={"batchId": batch_id}, headers=GORILLA
    ).json()
    assert len(body) == 3
    assert set(body.values()) == {"COMPLETED"}
    unknown = client.get("/api/v1/batch/transactions", params={"batchId": "nope"}, headers=GORILLA)
    assert unknown.status_code == 200
    assert unknown.json() == {}


def test_download_redirects_to_the_result_file(client):
    batch_id = batch_id_of(upload(client, csv_file(rows(2))))
    response = client.get(
        "/api/v1/batch/detail", params={"batchId": batch_id, "command": "download"}, headers=GORILLA
    )
    assert response.status_code == 302
    assert client.get(response.headers["location"]).text.count("COMPLETED") == 2
    missing = client.get(
        "/api/v1/batch/detail", params={"batchId": "nope", "command": "download"}, headers=GORILLA
    )
    assert missing.status_code == 404


def test_unknown_batch_summaries_are_404_text(client):
    for response in (
        client.get("/api/v1/batch/nope", headers=GORILLA),
        client.get("/api/v1/batch", params={"batchId": "nope"}, headers=GORILLA),
    ):
        assert response.status_code == 404
        assert response.text == "Batch corresponding to batchId: nope does not exist."


def test_tenants_are_isolated_on_ops(client):
    batch_id = batch_id_of(upload(client, csv_file(rows(1))))
    assert (
        client.get(f"/api/v1/batch/{batch_id}", headers={"Platform-TenantId": "rhino"}).status_code
        == 404
    )
    listing = client.get("/api/v1/batches", headers={"Platform-TenantId": "rhino"}).json()
    assert listing["totalBatches"] == 0


def test_ops_without_or_with_unknown_tenant_is_500_empty(client):
    batch_id = batch_id_of(upload(client, csv_file(rows(1))))
    for headers in ({}, {"Platform-TenantId": "atlantis"}, {"Platform-TenantId": ""}):
        response = client.get(f"/api/v1/batch/{batch_id}", headers=headers)
        assert response.status_code == 500
        assert response.content == b""
    by_param = client.get(f"/api/v1/batch/{batch_id}", params={"tenantIdentifier": "gorilla"})
    assert by_param.status_code == 200


def test_batches_list_sorting_filters_and_errors(client):
    first = batch_id_of(
        upload(client, csv_file(rows(1)), **{"X-Registering-Institution-ID": "inst-a"})
    )
    second = batch_id_of(upload(client, csv_file(rows(3))))
    newest_first = client.get("/api/v1/batches", headers=GORILLA).json()
    assert [b["batchId"] for b in newest_first["data"]] == [second, first]
    assert (newest_first["totalBatches"], newest_first["totalTransactions"]) == (2, 4)
    oldest_first = client.get(
        "/api/v1/batches", params={"sort": "+startedAt"}, headers=GORILLA
    ).json()
    assert [b["batchId"] for b in oldest_first["data"]] == [first, second]
    by_size = client.get(
        "/api/v1/batches", params={"sort": "-totalTransactions"}, headers=GORILLA
    ).json()
    assert by_size["data"][0]["totalTransactions"] == 3
    filtered = client.get(
        "/api/v1/batches", params={"registeringInstitutionId": "inst-a"}, headers=GORILLA
    ).json()
    assert [b["batchId"] for b in filtered["data"]] == [first]
    # page = floor(offset / limit): offset 1 with limit 2 is still the first page
    assert (
        len(
            client.get("/api/v1/batches", params={"offset": 1, "limit": 2}, headers=GORILLA).json()[
                "data"
            ]
        )
        == 2
    )
    for params in (
        {"limit": 0},
        {"sort": "startedAt"},
        {"sort": "-nope"},
        {"dateFrom": "yesterday"},
        {"offset": "x"},
    ):
        bad = client.get("/api/v1/batches", params=params, headers=GORILLA)
        assert (bad.status_code, bad.content) == (400, b"")


def test_batches_by_id_requires_x_correlation_id_and_404s_empty(client):
    batch_id = batch_id_of(upload(client, csv_file(rows(1))))
    missing = client.get(f"/api/v1/batches/{batch_id}", headers=GORILLA)
    assert missing.status_code == 400
    assert "X-Correlation-ID" in missing.json()["message"]
    unknown = client.get("/api/v1/batches/nope", headers={**GORILLA, "X-Correlation-ID": "x"})
    assert (unknown.status_code, unknown.content) == (404, b"")


def test_sub_batch_endpoint(client, fixtures_dir):
    batch_id = batch_id_of(upload(client, (fixtures_dir / "ph-ee-bulk-splitting.csv").read_bytes()))
    headers = {**GORILLA, "X-Correlation-ID": "x"}
    body = client.get(f"/api/v1/batches/{batch_id}", headers=headers).json()
    last = body["subBatchSummaryList"][-1]["subBatchId"]
    sub = client.get(f"/api/v1/batches/{batch_id}/subBatches/{last}", headers=headers).json()
    assert sub["totalInstructionCount"] == 2 == len(sub["instructionList"])
    assert (
        client.get(f"/api/v1/batches/{batch_id}/subBatches/nope", headers=headers).status_code
        == 404
    )


def test_quoted_client_correlation_ids_option(client, hub: EmulatorServer):
    hub.set_outcomes({"quote_client_correlation_ids": True})
    data = rows(1)
    content = detail(client, batch_id_of(upload(client, csv_file(data))))["content"]
    assert content[0]["clientCorrelationId"] == f'"{data[0].split(",")[1]}"'


def test_accepting_a_500_row_batch_is_fast(client):
    content = csv_file(rows(500))
    upload(client, content)  # warm-up
    import time

    started = time.perf_counter()
    response = upload(client, content)
    elapsed = time.perf_counter() - started
    assert response.status_code == 202
    assert elapsed < 0.25, f"500-row upload took {elapsed:.3f}s"
