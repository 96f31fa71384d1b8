"""upload_batch: the exact multipart body, every header, both answer generations, the errors."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.phee.errors import (
    PheeAuthError,
    PheeProtocolError,
    PheeRejected,
    PheeUnavailable,
)

from .support import TOKEN_PREFIX, FakeHub, client, json_reply, multipart_parts

CSV = (
    b"id,request_id,payment_mode,payer_identifier_type,payer_identifier,"
    b"payee_identifier_type,payee_identifier,amount,currency,note\n"
    b"0,5f0c7c1e-0000-4000-8000-000000000001,mojaloop,MSISDN,27710000000,MSISDN,"
    b"27711111111,100,USD,Program: P. Cycle ID - C1\n"
    b"1,5f0c7c1e-0000-4000-8000-000000000002,mojaloop,MSISDN,27710000000,MSISDN,"
    b"27712222222,250,USD,Program: P. Cycle ID - C1"
)
ACCEPTED = {"PollingPath": "/batch/Summary/8d1b0a7e-batch", "SuggestedCallbackSeconds": "120"}


def _upload(hub: FakeHub, csv: bytes = CSV, **kwargs: Any):
    setting_overrides = kwargs.pop("settings", {})
    with client(hub, **setting_overrides) as phee:
        return phee.upload_batch(
            file_name=kwargs.pop("file_name", "ph_ee_b1.csv"),
            csv_bytes=csv,
            correlation_id=kwargs.pop("correlation_id", "corr-1"),
            **kwargs,
        )


def _accepting(*replies) -> FakeHub:
    return FakeHub().on("POST", "/batchtransactions", *(replies or [json_reply(202, ACCEPTED)]))


def test_the_body_is_one_part_named_data_with_the_exact_bytes():
    hub = _accepting()
    _upload(hub)
    (request,) = hub.calls("/batchtransactions")
    parts = multipart_parts(request)
    assert len(parts) == 1
    headers, content = parts[0]
    assert headers["content-disposition"] == 'form-data; name="data"; filename="ph_ee_b1.csv"'
    assert content == CSV
    assert hashlib.sha256(content).digest() == hashlib.sha256(CSV).digest()


def test_the_required_headers_are_sent():
    hub = _accepting()
    _upload(hub)
    headers = hub.calls("/batchtransactions")[0].headers
    assert headers["x-correlationid"] == "corr-1"
    assert headers["platform-tenantid"] == "gorilla"
    assert headers["type"] == "csv"
    assert headers["purpose"] == "G2P Payment"
    assert headers["filename"] == "ph_ee_b1.csv"
    assert headers["authorization"] == f"Bearer {TOKEN_PREFIX}1"
    for absent in ("x-callbackurl", "x-registering-institution-id", "x-program-id", "x-signature"):
        assert absent not in headers
    assert "x-batchid" not in headers  # it would change the signing string


def test_optional_headers_are_sent_when_configured():
    hub = _accepting()
    _upload(
        hub,
        callback_url="https://g2p.test/phee/callback/tok123",
        settings={"registering_institution_id": "123", "program_id_header": "SocialWelfare"},
    )
    headers = hub.calls("/batchtransactions")[0].headers
    assert headers["x-callbackurl"] == "https://g2p.test/phee/callback/tok123"
    assert headers["x-registering-institution-id"] == "123"
    assert headers["x-program-id"] == "SocialWelfare"


def test_signature_is_over_corr_tenant_and_the_file_text(vectors):
    hub = _accepting()
    key = vectors["private_key_pkcs8_pem"]
    _upload(hub, settings={"secrets": {"signing_private_key": key}})
    signature = hub.calls("/batchtransactions")[0].headers["x-signature"]
    public = load_pem_public_key(vectors["public_key_pem"].encode())
    assert isinstance(public, RSAPublicKey)
    recovered = public.recover_data_from_signature(base64.b64decode(signature), PKCS1v15(), None)
    expected = hashlib.sha3_256(b"corr-1:gorilla:" + CSV).hexdigest().encode()
    assert recovered == expected


def test_signature_of_a_crlf_file_is_over_the_normalised_text(vectors):
    """The bytes go unchanged; the signature covers what PHEE will rebuild from them."""
    case = next(c for c in vectors["cases"] if c["name"] == "crlf_csv_multipart")
    hub = _accepting()
    _upload(
        hub,
        csv=case["raw_payload"].encode(),
        correlation_id=case["x_correlation_id"],
        file_name=case["filename_header"],
        settings={"secrets": {"signing_private_key": vectors["private_key_pkcs8_pem"]}},
    )
    request = hub.calls("/batchtransactions")[0]
    assert request.headers["x-signature"] == case["signature_b64"]
    assert multipart_parts(request)[0][1] == case["raw_payload"].encode()


def test_current_202_answer_gives_the_last_polling_path_segment():
    accepted = _upload(_accepting())
    assert accepted.phee_batch_id == "8d1b0a7e-batch"
    assert accepted.polling_path == "/batch/Summary/8d1b0a7e-batch"
    assert accepted.raw == ACCEPTED


def test_legacy_200_queued_answer_is_accepted():
    body = {"batch_id": "legacy-42", "request_id": "corr-1", "status": "queued"}
    accepted = _upload(_accepting(json_reply(200, body)))
    assert accepted.phee_batch_id == "legacy-42"
    assert accepted.polling_path is None


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        '{"status":"queued"}',
        '{"PollingPath":"/batch/Summary/"}',
        "[]",
        "",
        '{"PollingPath": "/batch/Summ',
        "<html>ok</html>",
    ],
)
def test_a_success_status_without_a_batch_id_is_a_protocol_error(body):
    with pytest.raises(PheeProtocolError) as caught:
        _upload(_accepting(json_reply(200, body)))
    assert caught.value.maybe_delivered is True  # the hub answered 2xx: it may hold the batch
    assert caught.value.status == 200


def test_a_4xx_is_rejected_with_status_and_body():
    body = {
        "errorInformation": "File not uploaded",
        "errorDescription": "There was no fie uploaded with the request.",
        "errorCode": 400,
    }
    with pytest.raises(PheeRejected) as caught:
        _upload(_accepting(json_reply(400, body)))
    assert caught.value.status == 400
    assert "File not uploaded" in caught.value.body
    assert caught.value.endpoint == "POST https://hub.test/batchtransactions"
    assert caught.value.maybe_delivered is False


@pytest.mark.parametrize(
    ("reply", "delivered"),
    [
        (httpx.Response(503, text="<html>Bad gateway</html>"), True),
        (httpx.ReadTimeout("timed out"), True),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), True),
        (httpx.ConnectError("connection refused"), False),
        (httpx.ConnectTimeout("timed out"), False),
    ],
)
def test_no_usable_answer_is_unavailable_and_never_retried(reply, delivered):
    hub = _accepting(reply, json_reply(202, ACCEPTED))
    with pytest.raises(PheeUnavailable) as caught:
        _upload(hub)
    assert caught.value.maybe_delivered is delivered
    assert len(hub.calls("/batchtransactions")) == 1


def test_a_refused_token_means_nothing_was_uploaded():
    hub = _accepting().on(
        "POST", "/oauth/token", json_reply(401, {"message": "Invalid credentials"})
    )
    with pytest.raises(PheeAuthError) as caught:
        _upload(hub)
    assert caught.value.maybe_delivered is False
    assert hub.calls("/batchtransactions") == []


def test_a_401_upload_is_repeated_once_with_a_new_token():
    hub = _accepting(json_reply(401, {"error": "invalid_token"}), json_reply(202, ACCEPTED))
    accepted = _upload(hub)
    assert accepted.phee_batch_id == "8d1b0a7e-batch"
    calls = hub.calls("/batchtransactions")
    assert [c.headers["authorization"] for c in calls] == [
        f"Bearer {TOKEN_PREFIX}1",
        f"Bearer {TOKEN_PREFIX}2",
    ]
    assert multipart_parts(calls[1])[0][1] == CSV


def test_a_file_with_a_blank_line_is_refused_before_sending():
    hub = _accepting()
    with pytest.raises(ValidationFailed, match="empty line"):
        _upload(hub, csv=CSV.replace(b"\n1,", b"\n\n1,"))
    assert hub.requests == []


def test_a_trailing_newline_is_harmless():
    hub = _accepting()
    _upload(hub, csv=CSV + b"\n")
    assert multipart_parts(hub.calls("/batchtransactions")[0])[0][1] == CSV + b"\n"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"csv": b"\xff\xfe not utf-8"}, "UTF-8"),
        ({"correlation_id": "corr\r\nX-Evil: 1"}, "X-CorrelationID"),
        ({"file_name": "bé.csv"}, "filename"),
    ],
)
def test_unsendable_input_is_refused_before_sending(kwargs, match):
    hub = _accepting()
    with pytest.raises(ValidationFailed, match=match):
        _upload(hub, **kwargs)
    assert hub.requests == []


def test_timeout_comes_from_the_settings():
    seen: dict[str, Any] = {}

    def capture(request: httpx.Request) -> httpx.Response:
        seen.update(request.extensions["timeout"])
        return json_reply(202, ACCEPTED)

    _upload(FakeHub().on("POST", "/batchtransactions", capture))
    assert seen == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}
