"""No failure mode shows the password, the Authorization secret, a token or the signing key:
not in messages, bodies, reprs, nor in the log records of the client and of httpx."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from g2p_payment_phee.phee.errors import PheeError

from .support import (
    AUTHORIZATION,
    CLIENT_SECRET_DECODED,
    PASSWORD,
    TOKEN_PREFIX,
    FakeHub,
    client,
    json_reply,
)

CSV = b"id,request_id,amount\n0,r1,100"


def _echo(request: httpx.Request) -> httpx.Response:
    """A hostile hub that echoes everything it received into its error body."""
    text = f"{request.url} {dict(request.headers)} {request.content.decode(errors='replace')}"
    return httpx.Response(400, text=text)


def _secrets(vectors: dict[str, Any]) -> list[str]:
    key: str = vectors["private_key_pkcs8_pem"]
    key_lines = [line for line in key.splitlines() if len(line) > 40]
    return [PASSWORD, AUTHORIZATION, CLIENT_SECRET_DECODED, TOKEN_PREFIX, key, *key_lines[:3]]


SCENARIOS = {
    "token echoed": lambda hub: hub.on("POST", "/oauth/token", _echo),
    "token 500": lambda hub: hub.on("POST", "/oauth/token", httpx.Response(500, text="boom")),
    "token timeout": lambda hub: hub.on("POST", "/oauth/token", httpx.ReadTimeout("t")),
    "upload echoed": lambda hub: hub.on("POST", "/batchtransactions", _echo),
    "upload 2xx junk": lambda hub: hub.on("POST", "/batchtransactions", _echo_ok),
    "upload dropped": lambda hub: hub.on(
        "POST", "/batchtransactions", httpx.RemoteProtocolError("dropped")
    ),
    "upload 401 twice": lambda hub: hub.on(
        "POST", "/batchtransactions", json_reply(401, {"error": "invalid_token"})
    ),
}


def _echo_ok(request: httpx.Request) -> httpx.Response:
    response = _echo(request)
    return httpx.Response(200, text=response.text)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_secret_in_errors_or_logs(scenario, vectors, caplog):
    caplog.set_level(logging.DEBUG)
    hub = FakeHub()
    SCENARIOS[scenario](hub)
    key = vectors["private_key_pkcs8_pem"]
    with client(hub, attempts=2, secrets={"signing_private_key": key}) as phee:
        with pytest.raises(PheeError) as caught:
            phee.upload_batch(file_name="f.csv", csv_bytes=CSV, correlation_id="c1")
        error = caught.value
        texts = [str(error), repr(error), error.body, error.message, error.endpoint, caplog.text]
        texts += [repr(phee), repr(phee._auth), repr(phee._redact)]
    for text in texts:
        for secret in _secrets(vectors):
            assert secret not in text, f"{scenario}: a secret leaked into {text[:200]!r}"
    assert error.__cause__ is None  # httpx's exceptions (holding the token URL) are not chained


def test_httpx_request_log_hides_the_token_query(caplog):
    caplog.set_level(logging.INFO, logger="httpx")
    hub = FakeHub().on(
        "GET",
        "/api/v1/batch/b1",
        json_reply(200, {"total": 1, "ongoing": 0, "successful": 1, "failed": 0}),
    )
    with client(hub) as phee:
        phee.batch_summary("b1")
    assert "oauth/token?redacted" in caplog.text
    assert PASSWORD not in caplog.text
    assert "/api/v1/batch/b1" in caplog.text  # other URLs are logged as they are


def test_the_callback_token_is_not_echoed_back():
    hub = FakeHub().on("POST", "/batchtransactions", _echo)
    callback = "https://g2p.test/phee/callback/cb-secret-token-4711"
    with client(hub) as phee, pytest.raises(PheeError) as caught:
        phee.upload_batch(
            file_name="f.csv", csv_bytes=CSV, correlation_id="c1", callback_url=callback
        )
    for text in (str(caught.value), repr(caught.value), caught.value.body):
        assert "cb-secret-token-4711" not in text
    assert "x-callbackurl" in caught.value.body  # the echo itself is kept, minus the secret
