"""The error tree: classification, maybe_delivered, and redaction of every secret."""

from __future__ import annotations

import pickle

import httpx
import pytest

from g2p_payment_phee.errors import G2PError
from g2p_payment_phee.phee.errors import (
    BODY_LIMIT,
    PheeAuthError,
    PheeError,
    PheeNotFound,
    PheeProtocolError,
    PheeRejected,
    PheeUnavailable,
    Redactor,
    describe_request,
    error_from_response,
    error_from_transport,
)

from .support import AUTHORIZATION, CLIENT_SECRET_DECODED, PASSWORD

UPLOAD = httpx.Request("POST", "https://hub.test/batchtransactions")


def _answer(status: int, text: str = "", request: httpx.Request = UPLOAD) -> httpx.Response:
    return httpx.Response(status, text=text, request=request)


@pytest.mark.parametrize(
    ("status", "cls", "delivered"),
    [
        (400, PheeRejected, False),
        (412, PheeRejected, False),
        (404, PheeNotFound, False),
        (401, PheeAuthError, False),
        (403, PheeAuthError, False),
        (500, PheeUnavailable, True),
        (503, PheeUnavailable, True),
        (302, PheeProtocolError, True),
    ],
)
def test_status_codes_map_to_types(status, cls, delivered):
    error = error_from_response(_answer(status, '{"errorCode":"x"}'), Redactor(), "batch upload")
    assert type(error) is cls
    assert isinstance(error, PheeError)
    assert isinstance(error, G2PError)
    assert error.status == status
    assert error.body == '{"errorCode":"x"}'
    assert error.endpoint == "POST https://hub.test/batchtransactions"
    assert error.maybe_delivered is delivered
    assert str(status) in error.message
    assert "batchtransactions" in error.message


def test_codes_are_stable_strings():
    assert PheeError.code == "phee_error"
    assert PheeAuthError.code == "phee_auth_failed"
    assert PheeRejected.code == "phee_rejected"
    assert PheeNotFound.code == "phee_not_found"
    assert PheeUnavailable.code == "phee_unavailable"
    assert PheeProtocolError.code == "phee_protocol_error"


def test_long_bodies_are_truncated():
    error = error_from_response(_answer(400, "x" * 10_000), Redactor(), "batch upload")
    assert len(error.body) < BODY_LIMIT + 20
    assert error.body.endswith("[truncated]")


@pytest.mark.parametrize(
    ("error", "delivered"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("timed out"), False),
        (httpx.PoolTimeout("pool"), False),
        (httpx.ReadTimeout("timed out"), True),
        (httpx.WriteTimeout("timed out"), True),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), True),
        (httpx.ReadError("reset"), True),
    ],
)
def test_transport_errors_say_whether_the_request_may_have_arrived(error, delivered):
    error.request = UPLOAD
    translated = error_from_transport(error, Redactor(), "batch upload", UPLOAD)
    assert isinstance(translated, PheeUnavailable)
    assert translated.maybe_delivered is delivered
    assert translated.status is None
    assert ("may have reached" in translated.message) is delivered


def test_a_failed_token_fetch_means_the_call_was_not_sent():
    token_request = httpx.Request("POST", f"https://hub.test/oauth/token?password={PASSWORD}")
    error = httpx.ReadTimeout("timed out", request=token_request)
    translated = error_from_transport(error, Redactor([PASSWORD]), "batch upload", UPLOAD)
    assert translated.maybe_delivered is False
    assert translated.endpoint == "POST https://hub.test/oauth/token?redacted"
    assert PASSWORD not in str(translated)


def test_decoding_errors_are_protocol_errors():
    error = httpx.DecodingError("bad gzip", request=UPLOAD)
    translated = error_from_transport(error, Redactor(), "batch summary", UPLOAD)
    assert isinstance(translated, PheeProtocolError)


def test_token_url_query_is_never_described():
    request = httpx.Request(
        "POST", "https://hub.test/oauth/token", params={"username": "mifos", "password": PASSWORD}
    )
    assert describe_request(request) == "POST https://hub.test/oauth/token?redacted"
    other = httpx.Request("GET", "https://hub.test/api/v1/batch/detail?batchId=b1&pageNo=0")
    assert describe_request(other).endswith("?batchId=b1&pageNo=0")


def test_redactor_hides_secrets_their_encodings_and_parts(vectors):
    key = vectors["private_key_pkcs8_pem"]
    redact = Redactor([PASSWORD, AUTHORIZATION, key, None, ""])
    key_line = key.splitlines()[5]
    text = (
        f"pw={PASSWORD} enc={httpx.QueryParams({'p': PASSWORD})} auth={AUTHORIZATION} "
        f"cred={AUTHORIZATION.split()[1]} raw={CLIENT_SECRET_DECODED} line={key_line}"
    )
    cleaned = redact(text)
    for secret in (
        PASSWORD,
        AUTHORIZATION,
        AUTHORIZATION.split()[1],
        CLIENT_SECRET_DECODED,
        key_line,
    ):
        assert secret not in cleaned
    assert "Pa55" not in cleaned
    assert "[REDACTED]" in cleaned
    assert PASSWORD not in repr(redact)


def test_bodies_and_messages_are_redacted():
    body = f'{{"error":"bad credentials for {PASSWORD}","echo":"{AUTHORIZATION}"}}'
    error = error_from_response(_answer(401, body), Redactor([PASSWORD, AUTHORIZATION]), "x")
    for text in (str(error), repr(error), error.body, error.message):
        assert PASSWORD not in text
        assert AUTHORIZATION not in text


def test_repr_names_the_essentials():
    error = PheeUnavailable("m", endpoint="GET u", status=503, maybe_delivered=True)
    assert repr(error) == (
        "PheeUnavailable(endpoint='GET u', status=503, maybe_delivered=True, message='m')"
    )


def test_phee_errors_cross_processes_whole() -> None:
    """A send's database work may run in another process: its errors come back complete."""
    error = PheeRejected(
        "refused", endpoint="batch upload", status=412, body="nope", maybe_delivered=False
    )
    again = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes, just made)
    assert type(again) is PheeRejected
    assert (again.message, again.endpoint, again.status, again.body, again.maybe_delivered) == (
        "refused",
        "batch upload",
        412,
        "nope",
        False,
    )
    assert str(again) == str(error)
