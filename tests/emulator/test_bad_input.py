"""Fuzzing over HTTP: any malformed request gets a PHEE-shaped answer, never a stack trace, and
the emulator keeps serving other tenants and batches."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from g2p_payment_phee.emulator import EmulatorServer

from .support import CANONICAL_HEADER, batch_id_of, csv_file, rows, summary, upload

HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20).map(
    str.strip
)
CELL = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\r\n"),
    max_size=12,
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def csv_texts(draw: st.DrawFn) -> bytes:
    header = draw(
        st.sampled_from(
            [CANONICAL_HEADER, "id,amount", "", "paymentmode", CANONICAL_HEADER + ",batch_id"]
        )
    )
    lines = [header]
    for _ in range(draw(st.integers(0, 8))):
        cells = draw(st.lists(CELL, min_size=0, max_size=12))
        lines.append(",".join(cells))
    separator = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return separator.join(lines).encode("utf-8")


@st.composite
def upload_requests(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    headers: dict[str, str] = {}
    for name in (
        "X-CorrelationID",
        "Platform-TenantId",
        "Type",
        "Purpose",
        "filename",
        "X-CallbackURL",
    ):
        if draw(st.booleans()):
            headers[name] = draw(
                st.one_of(
                    HEADER_TEXT,
                    st.sampled_from(
                        [
                            "gorilla",
                            "csv",
                            "raw",
                            "CSV",
                            "a.csv",
                            "x.txt",
                            "",
                            "http://127.0.0.1:9/x",
                        ]
                    ),
                )
            )
    kind = draw(st.sampled_from(["multipart", "json", "none", "text", "quoted"]))
    body = draw(st.one_of(csv_texts(), st.binary(max_size=300)))
    if kind == "multipart":
        headers["Content-Type"] = "multipart/form-data; boundary=zz"
        body = (
            b'--zz\r\nContent-Disposition: form-data; name="data"\r\n\r\n'
            + body
            + b"\r\n--zz--\r\n"
        )
    elif kind == "json":
        headers["Content-Type"] = "application/json"
    elif kind == "text":
        headers["Content-Type"] = "text/plain"
    elif kind == "quoted":
        headers["Content-Type"] = 'multipart/form-data; boundary="zz"'
    return headers, body


@pytest.fixture
def shared_client(_shared_client: httpx.Client) -> httpx.Client:
    """The session's client, without resetting the emulator between fuzz examples."""
    return _shared_client


def _assert_phee_shaped(response: httpx.Response) -> None:
    assert response.status_code in (200, 202, 400, 412, 500), response.text
    assert "Traceback" not in response.text
    if response.content:
        body = json.loads(response.content)
        assert isinstance(body, dict)
    if response.status_code == 500:
        assert response.json()["responseCode"] == "01"


@FUZZ
@given(request=upload_requests())
def test_fuzzed_uploads_get_phee_answers(shared_client: httpx.Client, request):
    headers, body = request
    _assert_phee_shaped(shared_client.post("/batchtransactions", content=body, headers=headers))


@FUZZ
@given(
    path=st.sampled_from(
        [
            "/api/v1/batch/detail",
            "/api/v1/batches",
            "/api/v1/batch",
            "/api/v1/batch/transactions",
            "/api/v1/batch/x",
        ]
    ),
    params=st.dictionaries(
        st.sampled_from(
            [
                "batchId",
                "pageNo",
                "pageSize",
                "status",
                "offset",
                "limit",
                "sort",
                "dateFrom",
                "command",
            ]
        ),
        HEADER_TEXT,
        max_size=4,
    ),
    tenant=st.sampled_from(["gorilla", "", "nope"]),
)
def test_fuzzed_ops_queries_never_leak_errors(shared_client: httpx.Client, path, params, tenant):
    response = shared_client.get(path, params=params, headers={"Platform-TenantId": tenant})
    assert response.status_code in (200, 302, 400, 404, 500)
    assert "Traceback" not in response.text
    if response.status_code == 500 and response.content:
        assert response.json()["status"] == 500


def test_emulator_still_serves_after_fuzzing(client, hub: EmulatorServer):
    """Runs after the fuzzers (same server): health and a normal batch still work."""
    assert client.get("/actuator/health").json() == {"status": "UP"}
    response = upload(client, csv_file(rows(3)), tenant="wakanda")
    assert summary(client, batch_id_of(response), "wakanda")["successful"] == 3
