"""``POST /batchtransactions``: PHEE's own answers to every malformed request (phee-api.md 3.5)."""

from __future__ import annotations

import json
import uuid

import pytest

from .support import (
    CANONICAL_HEADER,
    batch_id_of,
    csv_file,
    detail,
    rows,
    summary,
    upload,
    upload_headers,
)

FILE_NOT_UPLOADED = {
    "errorInformation": "File not uploaded",
    "errorDescription": "There was no fie uploaded with the request. "
    "Please upload a file and try again.",
    "errorCode": 400,
}


def _multipart(body: str, boundary: str = "b0undary") -> tuple[bytes, str]:
    text = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="data"; filename="f.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{body}\r\n--{boundary}--\r\n"
    )
    return text.encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("missing", ["X-CorrelationID", "Purpose", "Type", "Platform-TenantId"])
def test_missing_required_header_is_a_500_with_response_code_01(client, missing):
    headers = upload_headers("a.csv")
    del headers[missing]
    response = client.post(
        "/batchtransactions", files={"data": ("a.csv", csv_file(rows(1)))}, headers=headers
    )
    assert response.status_code == 500
    body = response.json()
    assert body["responseCode"] == "01"
    spelled = "purpose" if missing == "Purpose" else missing
    assert body["responseDescription"] == (
        f"Required request header '{spelled}' for method parameter type String is not present"
    )


def test_no_file_with_json_content_type_is_file_not_uploaded(client):
    """BD-005: no file, filename "", JSON content type."""
    headers = upload_headers("", **{"Content-Type": "application/json"})
    response = client.post("/batchtransactions", content=b"", headers=headers)
    assert response.status_code == 400
    assert response.json() == FILE_NOT_UPLOADED


@pytest.mark.parametrize("kind", ["raw", "xml", "json", ""])
def test_multipart_with_type_other_than_csv_is_file_not_uploaded(client, kind):
    response = upload(client, csv_file(rows(1)), Type=kind)
    assert response.status_code == 400
    assert response.json() == FILE_NOT_UPLOADED


def test_type_is_case_insensitive(client):
    assert upload(client, csv_file(rows(1)), Type="cSv").status_code == 202


def test_multipart_without_filename_header_is_a_500(client):
    headers = upload_headers("a.csv")
    del headers["filename"]
    response = client.post(
        "/batchtransactions", files={"data": ("a.csv", csv_file(rows(1)))}, headers=headers
    )
    assert response.status_code == 500
    assert response.json()["responseCode"] == "01"


def test_empty_filename_is_file_not_uploaded(client):
    response = upload(client, csv_file(rows(1)), "")
    assert response.status_code == 400
    assert response.json() == FILE_NOT_UPLOADED


@pytest.mark.parametrize("name", ["batch.txt", "batch", "batch.csv.gz"])
def test_non_csv_file_name_is_a_broken_file(client, name):
    response = upload(client, csv_file(rows(1)), name)
    assert response.status_code == 400
    assert response.json() == {
        "Error Information: ": "Broken file",
        "Error Description : ": "The file uploaded is broken as it has a different extension. "
        "Please upload a csv file and try again.",
    }


def test_file_over_100000_bytes_is_too_big_and_at_the_limit_is_accepted(client):
    base = csv_file(rows(1))
    filler = 100_000 - len(base) - 1
    at_limit = base + b"\n" + f"1,{uuid.uuid4()},mojaloop,msisdn,1,msisdn,2,5,USD,".encode()
    at_limit += b"x" * (100_000 - len(at_limit))
    assert len(at_limit) == 100_000
    assert filler > 0
    assert upload(client, at_limit).status_code == 202
    response = upload(client, at_limit + b"y")
    assert response.status_code == 400
    assert response.json() == {
        "Error Information: ": "File too big",
        "Error Description : ": "The file uploaded is too big. Please upload a file and try again.",
    }


def test_multipart_body_over_one_megabyte_is_file_not_uploaded(client):
    response = upload(client, csv_file(rows(1)) + b"," + b"x" * 1_100_000)
    assert response.status_code == 400
    assert response.json() == FILE_NOT_UPLOADED


@pytest.mark.parametrize(
    "header",
    [
        "\ufeff" + CANONICAL_HEADER,
        CANONICAL_HEADER.replace("amount", " amount"),
        CANONICAL_HEADER.replace("note", '"note"'),
        CANONICAL_HEADER.replace("payment_mode", "paymentmode"),
        CANONICAL_HEADER.replace("currency", "Currency"),
    ],
)
def test_header_outside_the_allowed_columns_is_invalid_file_structure(client, header):
    response = upload(client, csv_file(rows(1), header=header))
    assert response.status_code == 400
    assert response.json()["Error Information: "] == "Invalid file structure"


def test_header_may_omit_columns_and_use_optional_ones(client):
    header = "id,request_id,payment_mode,payee_identifier,amount,currency,payee_dfsp_id"
    response = upload(
        client, csv_file([f"0,{uuid.uuid4()},mojaloop,2547,5,USD,dfsp1"], header=header)
    )
    content = detail(client, batch_id_of(response))["content"]
    assert content[0]["payeeDfspId"] == "dfsp1"
    assert content[0]["status"] == "COMPLETED"


def test_unknown_tenant_is_412_and_nothing_is_stored(client, hub):
    response = upload(client, csv_file(rows(2)), tenant="atlantis")
    assert response.status_code == 412
    assert response.json() == {
        "responseCode": "01",
        "responseDescription": "Process definition not found",
    }
    assert hub.inspect()["request_ids"] == {}


def test_missing_content_type_is_a_500(client):
    headers = upload_headers("a.csv")
    response = client.post("/batchtransactions", content=b"x", headers=headers)
    assert "content-type" not in response.request.headers
    assert response.status_code == 500
    assert response.json()["responseCode"] == "01"


def test_crlf_and_trailing_spaces_are_normalised(client):
    text = CANONICAL_HEADER + "\r\n" + "\r\n".join(rows(3)) + "  \r\n"
    response = upload(client, text.encode())
    batch_id = batch_id_of(response)
    saved = client.get(f"/_emulator/files/{batch_id}/request.csv").text
    assert "\r" not in saved
    assert not saved.endswith((" ", "\n"))
    assert summary(client, batch_id)["total"] == 3


def test_blank_line_truncates_the_file(client):
    data = rows(4)
    text = "\n".join([CANONICAL_HEADER, data[0], data[1], "", data[2], data[3]])
    assert summary(client, batch_id_of(upload(client, text.encode())))["total"] == 2


def test_only_the_first_part_counts_when_it_runs_into_the_next_boundary(client):
    first = csv_file(rows(2)).decode()
    boundary = "xyz123"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="data"; filename="a.csv"\r\n\r\n'
        f'{first}\r\n--{boundary}\r\nContent-Disposition: form-data; name="extra"\r\n\r\n'
        f"5,{uuid.uuid4()},mojaloop,msisdn,1,msisdn,2,5,USD,x\r\n--{boundary}--\r\n"
    )
    headers = upload_headers(
        "a.csv", **{"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    response = client.post("/batchtransactions", content=body.encode(), headers=headers)
    assert summary(client, batch_id_of(response))["total"] == 2


def test_quoted_boundary_gives_an_empty_file(client):
    body, _ = _multipart(csv_file(rows(1)).decode(), "qqq")
    headers = upload_headers("a.csv", **{"Content-Type": 'multipart/form-data; boundary="qqq"'})
    response = client.post("/batchtransactions", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["Error Information: "] == "Invalid file structure"


RAW_ITEM = {
    "requestId": "99ee3eb4-44a0-51b1-a83e-effd2a60a3c9",
    "creditParty": [{"key": "accountNumber", "value": "003001003873110196"}],
    "debitParty": [{"key": "accountNumber", "value": "003001003879112168"}],
    "paymentMode": "mojaloop",
    "amount": "100",
    "currency": "USD",
    "descriptionText": "Test",
}


def _raw(client, body: bytes, **extra: str):
    headers = upload_headers(
        "ignored.txt", Type="RAW", **{"Content-Type": "application/json"}, **extra
    )
    return client.post("/batchtransactions", content=body, headers=headers)


def test_raw_json_upload_is_processed_like_a_file(client):
    """BD-012: one item, summary total 1 COMPLETED, total == successful."""
    response = _raw(client, json.dumps([RAW_ITEM]).encode())
    body = summary(client, batch_id_of(response))
    assert body["total"] == 1 == body["successful"]
    transfer = detail(client, batch_id_of(response))["content"][0]
    assert transfer["clientCorrelationId"] == RAW_ITEM["requestId"]
    assert transfer["payeePartyId"] == "003001003873110196"


def test_raw_json_single_object_and_missing_request_id(client):
    item = {k: v for k, v in RAW_ITEM.items() if k != "requestId"}
    response = _raw(client, json.dumps(item).encode())
    transfer = detail(client, batch_id_of(response))["content"][0]
    assert uuid.UUID(transfer["clientCorrelationId"])


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b""])
def test_raw_body_that_is_not_transactions_is_a_500(client, body):
    response = _raw(client, body)
    assert response.status_code == 500
    assert response.json()["responseCode"] == "01"


def test_raw_type_with_multipart_content_is_file_not_uploaded(client):
    body, content_type = _multipart(csv_file(rows(1)).decode())
    headers = upload_headers("a.csv", Type="raw", **{"Content-Type": content_type})
    response = client.post("/batchtransactions", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == FILE_NOT_UPLOADED


def test_legacy_upload_response_is_200_queued(client, hub):
    hub.update_config({"processing": {"legacy_upload_response": True}})
    correlation_id = str(uuid.uuid4())
    response = upload(client, csv_file(rows(1)), correlation_id=correlation_id)
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == correlation_id
    assert body["status"] == "queued"
    assert summary(client, body["batch_id"])["total"] == 1


def test_emulator_keeps_serving_after_bad_uploads(client):
    for content in (b"\x00\xff" * 1000, b"", b"--\r\n\r\n"):
        response = client.post(
            "/batchtransactions",
            content=content,
            headers=upload_headers("a.csv", **{"Content-Type": "multipart/form-data; boundary=--"}),
        )
        assert response.status_code in (400, 500)
        assert "Traceback" not in response.text
    assert summary(client, batch_id_of(upload(client, csv_file(rows(2)))))["total"] == 2
