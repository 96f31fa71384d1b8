"""Conformance: the PHEE peer-test fixtures get the answers phee-fixtures/README.md records.

Each test names the peer scenario it reproduces. Everything goes over real loopback HTTP.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from g2p_payment_phee.emulator import EmulatorServer

from .support import batch_id_of, detail, summary, upload

KOLKATA = timezone(timedelta(hours=5, minutes=30))


def _upload_fixture(client: httpx.Client, fixtures_dir: Path, name: str, **options: str):
    return upload(client, (fixtures_dir / name).read_bytes(), name, **options)


@pytest.mark.parametrize(
    ("name", "tenant", "total"),
    [
        ("ph-ee-bulk-demo-6.csv", "gorilla", 10),  # BD-003
        ("ph-ee-bulk-demo-7.csv", "gorilla", 3),  # BD-013 / BT-001 / MFT-002
        ("ph-ee-bulk-splitting.csv", "gorilla", 12),  # BD-015
        ("ph-ee-bulk-demoErrorAsync-6.csv", "gorilla", 5),  # BD-007
        ("payerIdentifier-resolution-using-budgetAccount.csv", "gorilla", 10),  # BD-011
        ("bulk_payment.csv", "rhino", 6),  # BB-FSP 002-005
        ("bulk_payment_closedl_mock_mojaloop.csv", "wakanda", 8),  # BB-FSP 006
        ("batchTransaction.csv", "gorilla", 3),  # mojaloop.feature
        ("batchTransactionGsma.csv", "wakanda", 3),  # gsmaP2P.feature
        ("batchTransactioClosedLoopMojaloopFundTransfer.csv", "wakanda", 8),  # BB-FSP 008
    ],
)
def test_fixture_completes_with_every_row_successful(client, fixtures_dir, name, tenant, total):
    response = _upload_fixture(client, fixtures_dir, name, tenant=tenant)
    batch_id = batch_id_of(response)
    body = summary(client, batch_id, tenant)
    assert body["total"] == total
    assert body["status"] == "COMPLETED"
    assert body["successful"] == body["total"]
    assert body["ongoing"] == 0


def test_demo6_upload_answers_202_with_polling_path(client, fixtures_dir):
    """BD-001 / BD-002."""
    response = _upload_fixture(client, fixtures_dir, "ph-ee-bulk-demo-6.csv")
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"PollingPath", "SuggestedCallbackSeconds"}
    assert body["PollingPath"].startswith("/batch/Summary/")
    assert body["SuggestedCallbackSeconds"] == "120"
    assert response.headers["content-type"].startswith("application/json")


def test_demo6_detail_has_ten_rows(client, fixtures_dir):
    """BD-004 / BD-010: 10 items in content, every one COMPLETED."""
    batch_id = batch_id_of(_upload_fixture(client, fixtures_dir, "ph-ee-bulk-demo-6.csv"))
    page = detail(client, batch_id, pageSize=20)
    assert len(page["content"]) == 10
    assert {t["status"] for t in page["content"]} == {"COMPLETED"}
    assert page["totalElements"] == 10


def test_demo6_batches_file_is_a_fetchable_url(client, fixtures_dir):
    """BD-019: /batches/{id} carries a result-file URL once done."""
    batch_id = batch_id_of(_upload_fixture(client, fixtures_dir, "ph-ee-bulk-demo-6.csv"))
    body = client.get(
        f"/api/v1/batches/{batch_id}",
        headers={"Platform-TenantId": "gorilla", "X-Correlation-ID": "x"},
    ).json()
    url = httpx.URL(body["file"])
    assert url.scheme == "http"
    result = client.get(str(url))
    assert result.status_code == 200
    assert result.text.splitlines()[0].endswith(",status,error_description")
    assert len(result.text.splitlines()) == 11


def test_demo7_batches_endpoint_reports_three_successful(client, fixtures_dir):
    """BD-014."""
    batch_id = batch_id_of(_upload_fixture(client, fixtures_dir, "ph-ee-bulk-demo-7.csv"))
    body = client.get(
        f"/api/v1/batches/{batch_id}",
        headers={"Platform-TenantId": "gorilla", "X-Correlation-ID": "any"},
    ).json()
    assert body["successful"] == 3
    assert body["total"] == body["successful"]
    assert body["totalSubBatches"] == 0
    assert "subBatchSummaryList" not in body


def test_demo7_associations_on_rhino_lists_three_instructions(client, fixtures_dir):
    """identityMapperTest "Batch Account Lookup Integration Test"."""
    response = _upload_fixture(client, fixtures_dir, "ph-ee-bulk-demo-7.csv", tenant="rhino")
    body = client.get(
        f"/api/v1/batches/{batch_id_of(response)}",
        params={"associations": "all"},
        headers={"Platform-TenantId": "rhino", "X-Correlation-ID": "any"},
    ).json()
    assert len(body["instructionList"]) == 3
    assert body["successful"] == 3


def test_splitting_reports_sub_batches_adding_up(client, fixtures_dir):
    """BD-015: totalSubBatches > 1 and the sub-batch totals add up to the total."""
    batch_id = batch_id_of(_upload_fixture(client, fixtures_dir, "ph-ee-bulk-splitting.csv"))
    body = client.get(
        f"/api/v1/batches/{batch_id}",
        headers={"Platform-TenantId": "gorilla", "X-Correlation-ID": "x"},
    ).json()
    assert body["successful"] == 12
    assert body["totalSubBatches"] > 1
    subs = body["subBatchSummaryList"]
    assert sum(s["total"] for s in subs) == body["total"]
    assert [s["total"] for s in subs] == [5, 5, 2]


def test_splitting_associations_all(client, fixtures_dir):
    """BD-016: 12 instructions, 3 sub-batches, all successful, completedAt set."""
    batch_id = batch_id_of(_upload_fixture(client, fixtures_dir, "ph-ee-bulk-splitting.csv"))
    body = client.get(
        f"/api/v1/batches/{batch_id}",
        params={"associations": "all"},
        headers={"Platform-TenantId": "gorilla", "X-Correlation-ID": "x"},
    ).json()
    assert len(body["instructionList"]) == 12
    assert len(body["subBatchList"]) == 3
    assert body["successful"] == 12 == body["total"]
    assert body["completedAt"] is not None
    sub_ids = {s["subBatchId"] for s in body["subBatchList"]}
    assert {i["subBatchId"] for i in body["instructionList"]} == sub_ids


def test_split_transfers_carry_their_sub_batch_id(client, fixtures_dir):
    """Transfers of a split batch have batchId = subBatchId (phee-api.md 5.3)."""
    batch_id = batch_id_of(_upload_fixture(client, fixtures_dir, "ph-ee-bulk-demo-6.csv"))
    content = detail(client, batch_id, pageSize=10)["content"]
    first, second = {t["batchId"] for t in content[:5]}, {t["batchId"] for t in content[5:]}
    assert len(first) == len(second) == 1
    assert first != second
    assert batch_id not in first | second


def test_dedup_fixture_fails_the_duplicate(client, fixtures_dir):
    """BD-017: 3 rows in detail, the duplicate FAILED with "duplicate transaction"."""
    batch_id = batch_id_of(_upload_fixture(client, fixtures_dir, "deduplication-test.csv"))
    content = detail(client, batch_id)["content"]
    assert len(content) == 3
    failed = [
        t for t in content if "duplicate transaction" in (t["errorInformation"] or "").lower()
    ]
    assert len(failed) == 1
    assert failed[0]["status"] == "FAILED"
    assert failed[0]["clientCorrelationId"] == "l9f6ac4d052e-72aa3ea4-e6f6-4880-877f"
    assert summary(client, batch_id)["status"] == "Failed"


def test_error_sync_fixture_is_refused_with_invalid_file_structure(client, fixtures_dir, hub):
    """BD-006: header column `paymentmode` is not allowed."""
    response = _upload_fixture(client, fixtures_dir, "ph-ee-bulk-demoErrorSync-6.csv")
    assert response.status_code == 400
    assert "Error Information" in response.text
    assert "Invalid file structure" in response.text
    assert response.json() == {
        "Error Information: ": "Invalid file structure",
        "Error Description : ": "The file uploaded contains wrong structure. "
        "Please upload correct file columns and try again.",
    }
    assert hub.inspect()["tenants"] == {}


def test_budget_account_headers_override_the_payer(client, fixtures_dir):
    """Institution 123 / program SocialWelfare select the default budget account."""
    response = _upload_fixture(
        client,
        fixtures_dir,
        "payerIdentifier-resolution-using-budgetAccount.csv",
        **{"X-Registering-Institution-ID": "123", "X-Program-ID": "SocialWelfare"},
    )
    content = detail(client, batch_id_of(response), pageSize=10)["content"]
    assert {t["payerPartyId"] for t in content} == {"123456789"}


def test_budget_account_batch_found_by_batch_id_filter(client, fixtures_dir):
    """operationsBatch (a): /batches?batchId= gives exactly one batch."""
    extra = {"X-Registering-Institution-ID": "123", "X-Program-ID": "SocialWelfare"}
    name = "payerIdentifier-resolution-using-budgetAccount.csv"
    batch_id = batch_id_of(_upload_fixture(client, fixtures_dir, name, **extra))
    _upload_fixture(client, fixtures_dir, name, **extra)
    assert summary(client, batch_id)["total"] == 10
    body = client.get(
        "/api/v1/batches", params={"batchId": batch_id}, headers={"Platform-TenantId": "gorilla"}
    ).json()
    assert body["totalBatches"] == 1
    assert [b["batchId"] for b in body["data"]] == [batch_id]
    assert body["data"][0]["registeringInstitutionId"] == "123"


def test_batches_pagination_limit_one(client, fixtures_dir):
    """operationsBatch (b): limit=1 at offset 0 and 1 give one batch each, different ones."""
    name = "payerIdentifier-resolution-using-budgetAccount.csv"
    for _ in range(2):
        batch_id_of(_upload_fixture(client, fixtures_dir, name))
    seen = []
    for offset in (0, 1):
        body = client.get(
            "/api/v1/batches",
            params={"limit": 1, "offset": offset},
            headers={"Platform-TenantId": "gorilla"},
        ).json()
        assert len(body["data"]) == 1
        seen.append(body["data"][0]["batchId"])
    assert seen[0] != seen[1]


def test_batches_date_window_counts_five_uploads(client, fixtures_dir):
    """operationsBatch (c): a dateFrom/dateTo window around five uploads → totalBatches 5."""
    start = datetime.now(KOLKATA) - timedelta(seconds=2)
    for _ in range(5):
        batch_id_of(
            _upload_fixture(
                client, fixtures_dir, "payerIdentifier-resolution-using-budgetAccount.csv"
            )
        )
    end = datetime.now(KOLKATA) + timedelta(seconds=2)
    fmt = "%Y-%m-%d %H:%M:%S"
    body = client.get(
        "/api/v1/batches",
        params={"dateFrom": start.strftime(fmt), "dateTo": end.strftime(fmt)},
        headers={"Platform-TenantId": "gorilla"},
    ).json()
    assert body["totalBatches"] == 5
    earlier = client.get(
        "/api/v1/batches",
        params={"dateTo": (start - timedelta(hours=1)).strftime(fmt)},
        headers={"Platform-TenantId": "gorilla"},
    ).json()
    assert earlier["totalBatches"] == 0


def test_mixed_modes_fixture_routes_each_sub_batch_by_its_first_row(client, fixtures_dir):
    """5 closedloop rows then 3 mojaloop rows: two sub-batches, modes reported in order."""
    response = _upload_fixture(
        client, fixtures_dir, "bulk_payment_closedl_mock_mojaloop.csv", tenant="wakanda"
    )
    body = summary(client, batch_id_of(response), "wakanda")
    assert body["modes"] == "closedloop,mojaloop"
    assert body["successful"] == 8


def test_fixture_files_are_accepted_byte_for_byte(client, fixtures_dir, hub: EmulatorServer):
    """The saved request file equals the uploaded fixture (already in normalised form)."""
    name = "ph-ee-bulk-demo-7.csv"
    batch_id = batch_id_of(_upload_fixture(client, fixtures_dir, name))
    saved = client.get(f"/_emulator/files/{batch_id}/request.csv")
    assert saved.content == (fixtures_dir / name).read_bytes()
