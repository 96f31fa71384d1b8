"""X-SIGNATURE: the emulator verifies and signs exactly like the reference vectors."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from g2p_payment_phee.emulator import EmulatorConfig, EmulatorServer
from g2p_payment_phee.emulator.config import JwsConfig, TenantKeys
from g2p_payment_phee.emulator.csvfile import boundary_of, normalise_multipart
from g2p_payment_phee.emulator.signature import (
    Verdict,
    lenient_b64decode,
    load_private_key,
    load_public_key,
    load_tenant_keys,
    sign_text,
    signing_string,
    verify_text,
)
from g2p_payment_phee.emulator.state import EmulatorState

from .support import summary, vector_keys

BOUNDARY = "c0ffee5eed1234567890abcdef012345"


def _case(vectors: dict[str, Any], name: str) -> dict[str, Any]:
    return next(case for case in vectors["cases"] if case["name"] == name)


def _cases(vectors: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [case for case in vectors["cases"] if case["kind"] == kind]


def _multipart_body(case: dict[str, Any], payload: str | None = None) -> bytes:
    text = payload if payload is not None else case["raw_payload"]
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"; '
        f'filename="{case["filename_header"]}"\r\nContent-Type: text/csv\r\n\r\n'
        f"{text}\r\n--{BOUNDARY}--\r\n"
    ).encode()


def _headers(case: dict[str, Any], **overrides: str) -> dict[str, str]:
    headers = {
        "X-CorrelationID": case["x_correlation_id"],
        "Platform-TenantId": case["tenant"],
        "Purpose": "test",
        "Content-Type": case["content_type"],
        "X-SIGNATURE": case["signature_b64"],
    }
    if case["kind"] == "multipart-csv":
        headers.update({"Type": "csv", "filename": case["filename_header"]})
    else:
        headers["Type"] = "raw"
    headers.update(overrides)
    return headers


def _post(http: httpx.Client, case: dict[str, Any], **overrides: Any):
    body: bytes | None = overrides.pop("body", None)
    if body is None:
        body = (
            _multipart_body(case)
            if case["kind"] == "multipart-csv"
            else case["raw_payload"].encode()
        )
    return http.post("/batchtransactions", content=body, headers=_headers(case, **overrides))


@pytest.fixture(scope="module")
def signing_hub(vectors) -> Iterator[EmulatorServer]:
    jws = JwsConfig(verify_requests=True, sign_responses=True, keys=vector_keys(vectors))
    with EmulatorServer(EmulatorConfig(jws=jws)) as server:
        yield server


@pytest.fixture
def http(signing_hub: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=signing_hub.base_url, timeout=10) as client:
        yield client


# --- the scheme itself (unit level) ---------------------------------------------------------


def test_every_vector_is_reproduced_bit_for_bit(vectors):
    private_key = load_private_key(vectors["private_key_pkcs8_pem"])
    public_key = load_public_key(vectors["x509_certificate_pem"])
    for case in vectors["cases"]:
        if case["kind"] == "multipart-csv":
            body = _multipart_body(case).decode()
            assert normalise_multipart(body, boundary_of(case["content_type"])) == case["payload"]
        if case["kind"] == "response-body":
            text = case["payload"]
        else:
            text = signing_string([case["x_correlation_id"], case["tenant"]], case["payload"])
        assert text == case["signing_string"], case["name"]
        assert sign_text(private_key, text) == case["signature_b64"], case["name"]
        assert verify_text(public_key, text, case["signature_b64"]) is Verdict.VALID


def test_key_forms_pem_and_phee_base64_are_equivalent(vectors):
    from_b64 = load_tenant_keys(
        TenantKeys(
            certificate=vectors["phee_config_certificate_b64"],
            private_key=vectors["phee_config_private_key_b64"],
        )
    )
    from_pem = load_tenant_keys(
        TenantKeys(
            public_key=vectors["public_key_pem"], private_key=vectors["private_key_pkcs8_pem"]
        )
    )
    assert from_b64.public_key is not None
    assert from_pem.public_key is not None
    assert from_b64.public_key.public_numbers() == from_pem.public_key.public_numbers()
    assert from_b64.certificate_text == vectors["phee_config_certificate_b64"]


def test_lenient_base64_like_commons_codec():
    assert lenient_b64decode("aGVsbG8=") == b"hello"
    assert lenient_b64decode("aGVsbG8") == b"hello"
    assert lenient_b64decode("aGV s\nbG8=garbage") == b"hello"
    assert lenient_b64decode("-_-_") == base64.b64decode("+/+/")


def test_signing_string_drops_the_trailing_colon_for_an_empty_payload():
    assert signing_string(["corr", "gorilla"], "") == "corr:gorilla"
    assert signing_string([None, "corr", "gorilla"], "x") == "corr:gorilla:x"
    assert signing_string(["batch", "corr", "gorilla"], "x") == "batch:corr:gorilla:x"


# --- verification over HTTP -----------------------------------------------------------------


def test_signed_multipart_vectors_are_accepted(http, vectors):
    for case in _cases(vectors, "multipart-csv"):
        response = _post(http, case)
        assert response.status_code == 202, (case["name"], response.text)
        batch_id = response.json()["PollingPath"].rsplit("/", 1)[-1]
        expected_rows = int(case["payload_line_count"]) - 1
        assert summary(http, batch_id, case["tenant"])["total"] == expected_rows


def test_signed_raw_json_vectors_are_accepted(http, vectors):
    for case in _cases(vectors, "raw-body"):
        if case["name"] == "bd008_simulate_text_body":
            continue
        response = _post(http, case)
        assert response.status_code == 202, (case["name"], response.text)


def test_empty_payload_vector_passes_the_signature_then_has_no_file(http, vectors):
    case = _case(vectors, "empty_payload")
    response = http.post(
        "/batchtransactions", content=b"", headers=_headers(case, Type="csv", filename="")
    )
    assert response.status_code == 400
    assert response.json()["errorInformation"] == "File not uploaded"


def test_simulate_bd008_passes_the_signature_check(http, vectors):
    case = _case(vectors, "bd008_simulate_text_body")
    headers = {k: v for k, v in _headers(case).items() if k != "Type"}
    response = http.post("/simulate", content=case["raw_payload"].encode(), headers=headers)
    assert (response.status_code, response.content) == (200, b"")
    tampered = http.post(
        "/simulate", content=b"The Batch Aggregation API was complete!", headers=headers
    )
    assert tampered.status_code == 400


def _assert_invalid_signature(response: httpx.Response, signature: str) -> None:
    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == "InvalidJsonWebSignature"
    assert body["errorDescription"] == "The JWS passed is not valid"
    assert body["errorParameters"] == [{"key": "X-SIGNATURE", "value": signature}]


def test_any_changed_payload_byte_is_an_invalid_signature(http, vectors):
    case = _case(vectors, "demo7_csv_multipart")
    payload = case["raw_payload"]
    for position in (0, len(payload) // 2, len(payload) - 1):
        changed = (
            payload[:position]
            + ("X" if payload[position] != "X" else "Y")
            + payload[position + 1 :]
        )
        _assert_invalid_signature(
            _post(http, case, body=_multipart_body(case, changed)), case["signature_b64"]
        )


@pytest.mark.parametrize(
    "overrides",
    [
        {"X-CorrelationID": "46ee9a30-4a6b-5dd7-8dd3-acb9fa0ce57d"},
        {"Platform-TenantId": "rhino"},
        {"Platform-TenantId": "wakanda"},  # no key of its own: the default key verifies
        {"X-BatchID": "extra-header"},
    ],
)
def test_changed_signed_header_is_an_invalid_signature(http, vectors, overrides):
    case = _case(vectors, "demo7_csv_multipart")
    _assert_invalid_signature(_post(http, case, **overrides), case["signature_b64"])


def _other_key_signature(text: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return sign_text(key, text)


@pytest.mark.parametrize("signature", ["", "not base64 at all!", "AAAA", None])
def test_undecryptable_signature_is_invalid_public_key(http, vectors, signature):
    case = _case(vectors, "demo7_csv_multipart")
    headers = _headers(case)
    if signature is None:
        del headers["X-SIGNATURE"]
    else:
        headers["X-SIGNATURE"] = signature
    response = http.post("/batchtransactions", content=_multipart_body(case), headers=headers)
    assert response.status_code == 400
    assert response.json() == {
        "errorCategory": "Validation",
        "errorCode": "InvalidPublicKeyConfigured",
        "errorDescription": "The public key configured is invalid",
        "developerMessage": "Certificate" + vectors["phee_config_certificate_b64"],
        "defaultUserMessage": "",
    }


def test_signature_made_with_another_key_is_invalid_public_key(http, vectors):
    case = _case(vectors, "demo7_csv_multipart")
    response = _post(http, case, **{"X-SIGNATURE": _other_key_signature(case["signing_string"])})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "InvalidPublicKeyConfigured"


def test_lenient_signature_encodings_are_accepted(http, vectors):
    case = _case(vectors, "demo7_csv_multipart")
    signature = case["signature_b64"]
    for variant in (
        signature.rstrip("="),
        signature.replace("+", "-").replace("/", "_"),
        signature[:40] + " " + signature[40:],
    ):
        assert _post(http, case, **{"X-SIGNATURE": variant}).status_code == 202


def test_actuator_is_not_signature_checked(http):
    assert http.get("/actuator/health").json() == {"status": "UP"}


# --- response signing ------------------------------------------------------------------------


def test_202_response_is_signed_over_the_body_with_the_tenant_key(http, vectors):
    case = _case(vectors, "demo7_csv_multipart")
    response = _post(http, case)
    assert response.headers["Platform-TenantId"] == "gorilla"
    public_key = load_public_key(vectors["x509_certificate_pem"])
    assert verify_text(public_key, response.text, response.headers["X-SIGNATURE"]) is Verdict.VALID


def test_response_signature_reproduces_the_vector(vectors):
    case = _case(vectors, "response_202_body_only")
    keys = load_tenant_keys(vector_keys(vectors)["gorilla"])
    assert keys.private_key is not None
    assert sign_text(keys.private_key, case["payload"]) == case["signature_b64"]


def test_error_responses_are_signed_and_empty_bodies_are_not(http, vectors):
    case = _case(vectors, "demo7_csv_multipart")
    error = _post(http, case, **{"X-CorrelationID": "changed"})
    assert error.status_code == 400
    assert "X-SIGNATURE" in error.headers
    simulate = _case(vectors, "bd008_simulate_text_body")
    headers = {k: v for k, v in _headers(simulate).items() if k != "Type"}
    empty = http.post("/simulate", content=simulate["raw_payload"].encode(), headers=headers)
    assert empty.content == b""
    assert "X-SIGNATURE" not in empty.headers


def test_tenant_specific_key_wins_over_default(vectors):
    lion_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    lion_pem = lion_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    keys = {**vector_keys(vectors), "LION": TenantKeys(private_key=lion_pem)}
    config = EmulatorConfig(jws=JwsConfig(verify_requests=True, keys=keys))
    case = _case(vectors, "demo7_csv_multipart")
    with EmulatorServer(config) as server, httpx.Client(base_url=server.base_url) as http:
        default_signed = _post(http, case, **{"Platform-TenantId": "lion"})
        assert default_signed.json()["errorCode"] == "InvalidPublicKeyConfigured"
        text = signing_string([case["x_correlation_id"], "lion"], case["payload"])
        own = _post(
            http, case, **{"Platform-TenantId": "lion", "X-SIGNATURE": sign_text(lion_key, text)}
        )
        assert own.status_code == 202


def test_invalid_key_text_is_refused_at_configuration():
    config = EmulatorConfig(jws=JwsConfig(keys={"gorilla": TenantKeys(certificate="bm90IGEga2V5")}))
    with pytest.raises(ValueError, match=r"jws\.keys\.gorilla"):
        EmulatorState(config)
