"""The bearer token: request shape, caching until shortly before expiry, one refresh on 401."""

from __future__ import annotations

import threading

import httpx
import pytest

from g2p_payment_phee.phee.auth import PheeTokenAuth
from g2p_payment_phee.phee.errors import (
    PheeAuthError,
    PheeProtocolError,
    PheeUnavailable,
    Redactor,
)

from .support import (
    AUTHORIZATION,
    PASSWORD,
    TOKEN_PREFIX,
    FakeClock,
    FakeHub,
    client,
    json_reply,
)

SUMMARY = {"total": 1, "ongoing": 0, "successful": 1, "failed": 0}


def _hub(**kwargs) -> FakeHub:
    return FakeHub(enforce_bearer=True, **kwargs).on(
        "GET", "/api/v1/batch/b1", json_reply(200, SUMMARY)
    )


def test_token_request_carries_credentials_as_phee_expects():
    hub = _hub()
    with client(hub) as phee:
        phee.batch_summary("b1")
    token_call = hub.calls("/oauth/token")[0]
    assert token_call.method == "POST"
    assert dict(token_call.url.params) == {
        "username": "mifos",
        "password": PASSWORD,
        "grant_type": "password",
    }
    assert token_call.headers["authorization"] == AUTHORIZATION
    assert token_call.headers["platform-tenantid"] == "gorilla"
    read = hub.calls("/api/v1/batch/b1")[0]
    assert read.headers["authorization"] == f"Bearer {TOKEN_PREFIX}1"
    assert read.headers["platform-tenantid"] == "gorilla"


def test_token_is_cached_until_shortly_before_it_expires():
    hub, clock = _hub(expires_in=599), FakeClock()
    with client(hub, clock=clock) as phee:
        phee.batch_summary("b1")
        clock.now += 500  # 599 s token, refreshed 59.9 s early: still good at +500
        phee.batch_summary("b1")
        assert hub.issued == 1
        clock.now += 40  # +540 > 599 - 59.9
        phee.batch_summary("b1")
        assert hub.issued == 2
    assert [c.headers["authorization"][-1] for c in hub.calls("/api/v1/batch/b1")] == [
        "1",
        "1",
        "2",
    ]


def test_a_401_fetches_one_new_token_and_repeats_the_call_once():
    hub = _hub()
    with client(hub) as phee:
        phee.batch_summary("b1")
        hub.revoke_tokens()  # the hub forgot the token before it expired
        summary = phee.batch_summary("b1")
    assert summary.total == 1
    assert hub.issued == 2
    assert len(hub.calls("/api/v1/batch/b1")) == 3


def test_a_second_401_is_an_auth_error_not_a_loop():
    hub = FakeHub().on("GET", "/api/v1/batch/b1", json_reply(401, {"error": "invalid_token"}))
    with client(hub) as phee, pytest.raises(PheeAuthError) as caught:
        phee.batch_summary("b1")
    assert hub.issued == 2
    assert len(hub.calls("/api/v1/batch/b1")) == 2
    assert caught.value.status == 401
    assert caught.value.maybe_delivered is False


@pytest.mark.parametrize("status", [400, 401])
def test_refused_credentials_are_an_auth_error(status):
    body = {"status": "401", "error": "Unauthorized", "message": "Invalid credentials"}
    hub = _hub().on("POST", "/oauth/token", json_reply(status, body))
    with client(hub) as phee, pytest.raises(PheeAuthError) as caught:
        phee.batch_summary("b1")
    assert caught.value.status == status
    assert "Invalid credentials" in caught.value.body
    assert caught.value.endpoint == "POST https://hub.test/oauth/token?redacted"
    assert hub.calls("/api/v1/batch/b1") == []  # the call itself never went out


def test_token_5xx_is_retried_like_any_read():
    issue = _TokenOnce()
    hub = FakeHub().on("GET", "/api/v1/batch/b1", json_reply(200, SUMMARY))
    hub.on("POST", "/oauth/token", httpx.Response(503, text="busy"), issue)
    with client(hub) as phee:
        assert phee.batch_summary("b1").total == 1
    assert issue.calls == 1
    assert hub.calls("/api/v1/batch/b1")[0].headers["authorization"] == "Bearer t-ok"


class _TokenOnce:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return json_reply(200, {"access_token": "t-ok", "expires_in": 600})


@pytest.mark.parametrize(
    "body", ['{"token_type":"bearer"}', "<html>login</html>", '{"access_token":""}']
)
def test_unusable_token_answers_are_protocol_errors_that_sent_nothing(body):
    hub = _hub().on("POST", "/oauth/token", json_reply(200, body))
    with client(hub) as phee, pytest.raises(PheeProtocolError) as caught:
        phee.batch_summary("b1")
    assert caught.value.maybe_delivered is False


def test_missing_or_odd_expires_in_still_caches_briefly():
    hub, clock = _hub(expires_in="not a number"), FakeClock()
    with client(hub, clock=clock) as phee:
        phee.batch_summary("b1")
        phee.batch_summary("b1")
        assert hub.issued == 1
        clock.now += 60
        phee.batch_summary("b1")
        assert hub.issued == 2


def test_no_auth_endpoint_means_no_bearer():
    hub = FakeHub().on("GET", "/api/v1/batch/b1", json_reply(200, SUMMARY))
    with client(hub, auth_endpoint_url=None) as phee:
        phee.batch_summary("b1")
    assert hub.calls("/oauth/token") == []
    assert "authorization" not in hub.calls("/api/v1/batch/b1")[0].headers


def test_threads_share_one_token_fetch():
    """Eight threads start at once; the token endpoint is asked once."""
    gate = threading.Barrier(8)
    hub = _hub()
    errors: list[BaseException] = []
    with client(hub) as phee:

        def work() -> None:
            try:
                gate.wait()
                phee.batch_summary("b1")
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert hub.issued == 1
    assert len(hub.calls("/api/v1/batch/b1")) == 8


def test_token_transport_error_says_the_call_was_not_sent():
    hub = _hub().on("POST", "/oauth/token", httpx.ReadTimeout("timed out"))
    with client(hub, attempts=1) as phee, pytest.raises(PheeUnavailable) as caught:
        phee.batch_summary("b1")
    assert caught.value.maybe_delivered is False
    assert caught.value.endpoint == "POST https://hub.test/oauth/token?redacted"


def test_auth_repr_and_token_repr_hide_secrets():
    redact = Redactor([PASSWORD])
    auth = PheeTokenAuth(
        token_url="https://hub.test/oauth/token",
        tenant_id="gorilla",
        username="mifos",
        password=PASSWORD,
        grant_type="password",
        authorization=AUTHORIZATION,
        redact=redact,
    )
    response = json_reply(200, {"access_token": "tok-secret-value", "expires_in": 100})
    response.request = auth.token_request()
    token = auth.accept(response, sent_at=0.0)
    assert token.expires_in == 100
    assert token.refresh_at == 90.0
    for text in (repr(auth), repr(token)):
        assert PASSWORD not in text
        assert AUTHORIZATION not in text
        assert "tok-secret-value" not in text
    assert redact("tok-secret-value") == "[REDACTED]"


def test_token_fetches_have_the_calls_timeout_first_and_after_a_401():
    hub = _hub()
    with client(hub, batch_request_timeout=4.25) as phee:
        phee.batch_summary("b1")
        hub.revoke_tokens()
        phee.batch_summary("b1")
    fetches = hub.calls("/oauth/token")
    assert len(fetches) == 2
    for fetch in fetches:
        assert fetch.extensions["timeout"] == httpx.Timeout(4.25).as_dict()
