"""The PHEE client against the in-process emulator over loopback: the whole client contract
on the wire, with the emulator's clock and fault controls (no sleeps)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from g2p_payment_phee.emulator import EmulatorConfig, EmulatorServer
from g2p_payment_phee.phee.client import PheeClient
from g2p_payment_phee.phee.errors import (
    PheeAuthError,
    PheeProtocolError,
    PheeRejected,
    PheeUnavailable,
)
from g2p_payment_phee.phee.retry import RetryPolicy
from g2p_payment_phee.phee.settings import PheeSecrets, PheeSettings
from tests.conftest import SHARED_REFERENCE

FIXTURES = SHARED_REFERENCE / "phee-fixtures"
HEADER = (
    "id,request_id,payment_mode,payer_identifier_type,payer_identifier,"
    "payee_identifier_type,payee_identifier,amount,currency,note"
)
DEMO_PASSWORD = "password"
DEMO_AUTHORIZATION = "Basic Y2xpZW50Og=="


class CountingTransport(httpx.BaseTransport):
    """The real HTTP transport, counting requests per path."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()

    def count(self, path: str) -> int:
        return self.paths.count(path)


@pytest.fixture(scope="module")
def _server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=7)) as server:
        yield server


@pytest.fixture
def hub(_server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The emulator, reset to defaults (bearer enforcement on) for each test."""
    defaults = EmulatorConfig(seed=7)
    _server.call(lambda state: state.reconfigure(defaults))
    _server.reset()
    _server.update_config({"auth": {"enforce_bearer": True}})
    yield _server
    _server.release_hangs()


def _settings(hub: EmulatorServer, **overrides: Any) -> PheeSettings:
    base = hub.base_url
    values: dict[str, Any] = {
        "tenant_id": "gorilla",
        "payee_id_type": "phone",
        "username": "mifos",
        "auth_endpoint_url": f"{base}/oauth/token",
        "payment_endpoint_url": f"{base}/batchtransactions",
        "status_endpoint_url": f"{base}/api/v1/batch",
        "details_endpoint_url": f"{base}/api/v1/batch/detail",
    }
    values.update(overrides)
    return PheeSettings(**values)


@pytest.fixture
def transport() -> CountingTransport:
    return CountingTransport()


def _client(hub: EmulatorServer, transport: httpx.BaseTransport, **overrides: Any) -> PheeClient:
    secrets = PheeSecrets(
        password=DEMO_PASSWORD,
        authorization=DEMO_AUTHORIZATION,
        signing_private_key=overrides.pop("signing_private_key", None),
    )
    retry = RetryPolicy(attempts=overrides.pop("attempts", 3), sleep=lambda _: None)
    return PheeClient(_settings(hub, **overrides), secrets, transport=transport, retry=retry)


@pytest.fixture
def phee(hub: EmulatorServer, transport: CountingTransport) -> Iterator[PheeClient]:
    with _client(hub, transport) as client:
        yield client


def _csv(rows: int, *, amount: int = 100) -> tuple[bytes, list[str]]:
    """A canonical PHEE file with fresh request_ids and distinct payees."""
    ids = [str(uuid.uuid4()) for _ in range(rows)]
    lines = [HEADER] + [
        f"{i},{rid},mojaloop,msisdn,27710000000,msisdn,2771{i:07d},{amount + i},USD,"
        "Program: Test. Cycle ID - C1"
        for i, rid in enumerate(ids)
    ]
    return "\n".join(lines).encode(), ids


def _upload(phee: PheeClient, csv: bytes, correlation_id: str | None = None, **kwargs: Any):
    return phee.upload_batch(
        file_name=kwargs.pop("file_name", "ph_ee_test.csv"),
        csv_bytes=csv,
        correlation_id=correlation_id or str(uuid.uuid4()),
        **kwargs,
    )


def test_upload_then_read_to_completion_with_bearer_enforced(phee, hub, transport):
    hub.set_outcomes({"delay_seconds": 30, "failing_payees": {"27710000003": "Account closed"}})
    csv, ids = _csv(7)  # more than 5 rows: the emulator splits it into sub-batches
    accepted = _upload(phee, csv)
    assert accepted.polling_path == f"/batch/Summary/{accepted.phee_batch_id}"

    running = phee.batch_summary(accepted.phee_batch_id)
    assert (running.total, running.ongoing) == (7, 7)
    assert not running.is_finished

    hub.advance(30)
    done = phee.batch_summary(accepted.phee_batch_id)
    assert done.is_finished
    assert (done.successful, done.failed) == (6, 1)
    assert done.total_amount == Decimal(sum(100 + i for i in range(7)))
    assert isinstance(done.successful_amount, Decimal)

    listing = phee.batch_details(accepted.phee_batch_id, page_size=3)
    transfers = {t.client_correlation_id: t for t in listing}
    assert listing.complete
    assert listing.pages_read == 3
    assert listing.problems == []
    assert sorted(transfers) == sorted(ids)
    failed = transfers[ids[3]]
    assert failed.is_failed
    assert failed.error_information == "Account closed"
    paid = transfers[ids[0]]
    assert paid.is_completed
    assert paid.amount == Decimal(100)
    assert paid.completed_at is not None
    assert paid.transaction_id
    assert transport.count("/oauth/token") == 1  # one token served the whole run


def test_peer_fixture_is_accepted_byte_for_byte(phee, hub):
    csv = (FIXTURES / "ph-ee-bulk-demo-7.csv").read_bytes()
    accepted = _upload(phee, csv, file_name="ph-ee-bulk-demo-7.csv")
    saved = httpx.get(f"{hub.base_url}/_emulator/files/{accepted.phee_batch_id}/request.csv")
    assert saved.status_code == 200
    assert saved.content == csv  # the hub kept exactly what we stored and hashed


def test_a_bad_file_is_rejected_with_status_and_body(phee, hub):
    csv = (FIXTURES / "ph-ee-bulk-demoErrorSync-6.csv").read_bytes()
    with pytest.raises(PheeRejected) as caught:
        _upload(phee, csv, file_name="errorsync.csv")
    assert caught.value.status == 400
    assert "Invalid file structure" in caught.value.body
    assert caught.value.maybe_delivered is False
    assert hub.inspect()["request_ids"] == {}


def test_a_non_csv_file_name_is_rejected(phee):
    csv, _ = _csv(1)
    with pytest.raises(PheeRejected) as caught:
        _upload(phee, csv, file_name="batch.txt")
    assert caught.value.status == 400
    assert "Broken file" in caught.value.body


def test_5xx_is_unavailable_and_lookup_tells_whether_it_was_stored(phee, hub):
    hub.set_faults({"rules": [{"kind": "error_5xx", "endpoints": ["upload"], "times": 1}]})
    csv, _ = _csv(2)
    correlation_id = str(uuid.uuid4())
    with pytest.raises(PheeUnavailable) as caught:
        _upload(phee, csv, correlation_id)
    assert caught.value.status == 503
    assert caught.value.maybe_delivered is True
    assert phee.find_batch(correlation_id) is None  # this 5xx came before the store


def test_drop_after_store_is_found_by_correlation_id(phee, hub):
    hub.set_faults({"rules": [{"kind": "drop", "endpoints": ["upload"], "times": 1}]})
    csv, ids = _csv(3)
    correlation_id = str(uuid.uuid4())
    with pytest.raises(PheeUnavailable) as caught:
        _upload(phee, csv, correlation_id)
    assert caught.value.maybe_delivered is True
    assert caught.value.status is None
    found = phee.find_batch(correlation_id)
    assert found is not None
    assert found.total == 3
    assert phee.batch_summary(found.phee_batch_id).total == 3
    assert hub.request_status(ids[0])["accepted"] == 1


def test_5xx_after_store_is_found_too(phee, hub):
    rule = {"kind": "error_5xx", "endpoints": ["upload"], "times": 1, "after_store": True}
    hub.set_faults({"rules": [rule]})
    csv, _ = _csv(2)
    correlation_id = str(uuid.uuid4())
    with pytest.raises(PheeUnavailable):
        _upload(phee, csv, correlation_id)
    assert phee.find_batch(correlation_id) is not None


def test_lookup_pages_through_many_batches(phee, hub):
    wanted = str(uuid.uuid4())
    csv, _ = _csv(1)
    _upload(phee, csv, wanted)
    for _ in range(5):
        _upload(phee, _csv(1)[0])
    found = phee.find_batch(wanted, page_size=2)  # the oldest: on the last page
    assert found is not None
    assert found.correlation_id == wanted
    assert phee.find_batch(str(uuid.uuid4()), page_size=2) is None


def test_lookup_of_an_unknown_correlation_id_is_none(phee):
    assert phee.find_batch(str(uuid.uuid4())) is None


def test_lookup_errors_are_raised_not_none(phee, hub):
    hub.set_faults({"rules": [{"kind": "error_5xx", "endpoints": ["list"]}]})
    with pytest.raises(PheeUnavailable):
        phee.find_batch(str(uuid.uuid4()))


def test_expired_token_is_refreshed_once_transparently(phee, hub, transport):
    accepted = _upload(phee, _csv(2)[0])
    assert transport.count("/oauth/token") == 1
    hub.expire_tokens()
    assert phee.batch_summary(accepted.phee_batch_id).total == 2
    assert transport.count("/oauth/token") == 2
    assert transport.count(f"/api/v1/batch/{accepted.phee_batch_id}") == 2  # 401, then 200
    assert phee.batch_summary(accepted.phee_batch_id).total == 2
    assert transport.count("/oauth/token") == 2


def test_token_expired_fault_on_details_is_refreshed(phee, hub, transport):
    accepted = _upload(phee, _csv(2)[0])
    hub.set_faults({"rules": [{"kind": "token_expired", "endpoints": ["details"], "times": 1}]})
    assert len(list(phee.batch_details(accepted.phee_batch_id))) == 2
    assert transport.count("/oauth/token") == 2


def test_wrong_password_is_an_auth_error(hub, transport):
    secrets = PheeSecrets(password="wrong", authorization=DEMO_AUTHORIZATION)
    with (
        PheeClient(_settings(hub), secrets, transport=transport) as phee,
        pytest.raises(PheeAuthError) as caught,
    ):
        phee.batch_summary("anything")
    assert caught.value.status == 401
    assert "Invalid credentials" in caught.value.body
    assert "wrong" not in str(caught.value)


def test_signature_is_accepted_by_a_verifying_hub(hub, transport):
    vectors = json.loads((SHARED_REFERENCE / "phee-signature-vectors.json").read_text())
    hub.update_config(
        {
            "jws": {
                "verify_requests": True,
                "keys": {"gorilla": {"public_key": vectors["public_key_pem"]}},
            }
        }
    )
    csv, ids = _csv(3)
    with _client(hub, transport) as unsigned, pytest.raises(PheeRejected) as caught:
        _upload(unsigned, csv)
    assert "InvalidPublicKeyConfigured" in caught.value.body
    with _client(hub, transport, signing_private_key=vectors["private_key_pkcs8_pem"]) as signed:
        accepted = _upload(signed, csv, callback_url=None)
    assert accepted.phee_batch_id
    assert hub.request_status(ids[0])["accepted"] == 1


def test_legacy_upload_answer_is_understood(phee, hub):
    hub.update_config({"processing": {"legacy_upload_response": True}})
    correlation_id = str(uuid.uuid4())
    accepted = _upload(phee, _csv(1)[0], correlation_id)
    assert accepted.polling_path is None
    assert accepted.raw["request_id"] == correlation_id
    assert phee.batch_summary(accepted.phee_batch_id).total == 1


def test_malformed_summary_is_a_protocol_error(phee, hub):
    accepted = _upload(phee, _csv(1)[0])
    hub.set_faults({"rules": [{"kind": "malformed_json", "endpoints": ["status"], "times": 1}]})
    with pytest.raises(PheeProtocolError):
        phee.batch_summary(accepted.phee_batch_id)
    assert phee.batch_summary(accepted.phee_batch_id).total == 1


def test_transient_5xx_on_reads_is_retried(phee, hub):
    accepted = _upload(phee, _csv(1)[0])
    hub.set_faults({"rules": [{"kind": "error_5xx", "endpoints": ["status"], "times": 2}]})
    assert phee.batch_summary(accepted.phee_batch_id).total == 1


def test_quoted_correlation_ids_are_stripped(phee, hub):
    hub.set_outcomes({"quote_client_correlation_ids": True})
    csv, ids = _csv(2)
    accepted = _upload(phee, csv)
    assert sorted(
        t.client_correlation_id for t in phee.batch_details(accepted.phee_batch_id)
    ) == sorted(ids)


def test_a_hang_past_the_timeout_is_unavailable_and_maybe_delivered(hub, transport):
    hub.set_faults(
        {"rules": [{"kind": "hang", "endpoints": ["upload"], "times": 1, "seconds": 30}]}
    )
    correlation_id = str(uuid.uuid4())
    with _client(hub, transport, batch_request_timeout=0.3) as phee:
        with pytest.raises(PheeUnavailable) as caught:
            _upload(phee, _csv(1)[0], correlation_id)
        assert caught.value.maybe_delivered is True
        assert "ReadTimeout" in caught.value.message
        hub.release_hangs()
        assert phee.find_batch(correlation_id) is not None


def test_an_unreachable_hub_means_nothing_was_delivered(hub, transport):
    with (
        _client(
            hub,
            transport,
            attempts=1,
            auth_endpoint_url=None,
            payment_endpoint_url="http://127.0.0.1:9/batchtransactions",
        ) as phee,
        pytest.raises(PheeUnavailable) as caught,
    ):
        _upload(phee, _csv(1)[0])
    assert caught.value.maybe_delivered is False


def test_test_connection_reports_token_and_reads(phee, hub):
    report = phee.test_connection()
    assert "token OK" in report
    assert "tenant 'gorilla' can read" in report
    assert "health UP" in report


def test_test_connection_names_an_unknown_tenant(hub, transport):
    with (
        _client(hub, transport, tenant_id="atlantis") as phee,
        pytest.raises(PheeUnavailable) as caught,
    ):
        phee.test_connection()
    assert caught.value.status == 500
    assert "oauth/token" in caught.value.endpoint
