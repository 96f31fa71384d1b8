"""Send and sync against the emulator over loopback (issue 5 item 9): the happy path, PHEE
refusing a batch, token expiry, every upload fault that leaves the outcome unknown, partial
failures and retries, and PHEE answers that make no sense.

Whatever happens, the emulator's inspection must show that no request_id was accepted twice
(never pay twice) and every payment must end known (never lose a payment). The emulator's clock
is moved instead of sleeping.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from g2p_payment_phee.audit import AuditEvent, events_for
from g2p_payment_phee.db import unit_of_work, utcnow
from g2p_payment_phee.emulator import EmulatorServer
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_payments
from g2p_payment_phee.payments.reports import SendReport, SyncReport
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentState,
    PaymentStatus,
    set_batch_state,
)
from g2p_payment_phee.phee.callbacks import callback_token
from g2p_payment_phee.phee.send import send_batches
from g2p_payment_phee.phee.sync import sync_batches
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import CycleState
from tests.conftest import SHARED_REFERENCE
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice

# --- helpers --------------------------------------------------------------------------------


def send(p: PheeProgram, cycle: Cycle) -> SendReport:
    return service.send_cycle(p.factory, p.admin, cycle.id)


def sync(p: PheeProgram, cycle: Cycle) -> SyncReport:
    return service.sync_cycle(p.factory, p.admin, cycle.id)


def stored_batches(hub: EmulatorServer) -> list[dict[str, Any]]:
    """Every batch the emulator stored (whatever the client saw)."""
    answer = httpx.get(f"{hub.base_url}/_emulator/batches")
    answer.raise_for_status()
    data = answer.json()
    return list(data["batches"] if isinstance(data, dict) else data)


def payment_rows(p: PheeProgram, cycle: Cycle) -> list[tuple[Any, ...]]:
    """Everything sync may change on a payment, in a comparable form."""
    p.session.expire_all()
    query = (
        select(
            Payment.id,
            Payment.state,
            Payment.status,
            Payment.amount_paid,
            Payment.failure_reason,
            Payment.settled_at,
            Payment.phee_transaction_id,
        )
        .where(Payment.cycle_id == cycle.id)
        .order_by(Payment.id)
    )
    return [tuple(row) for row in p.session.execute(query)]


def audit_count(p: PheeProgram) -> int:
    p.session.expire_all()
    return int(p.session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def actions(p: PheeProgram, batch: PaymentBatch) -> list[str]:
    return [event.action for event in events_for(p.session, batch)]


def assert_all_paid(p: PheeProgram, batch: PaymentBatch, amount: Decimal) -> None:
    for payment in p.payments(batch):
        assert (payment.state, payment.status) == (PaymentState.RECONCILED, PaymentStatus.PAID)
        assert payment.amount_paid == amount
        assert payment.failure_reason is None
        assert payment.settled_at is not None
        assert payment.phee_transaction_id


class CountingTransport(httpx.BaseTransport):
    """The real transport, counting requests per path and calling ``after`` on each answer."""

    def __init__(self, after: Any = None) -> None:
        self._inner = httpx.HTTPTransport()
        self.paths: list[tuple[str, str]] = []
        self._after = after

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        self.paths.append((request.method, request.url.path))
        if self._after is not None:
            self._after(request, response)
        return response

    def close(self) -> None:
        self._inner.close()

    def count(self, method: str, path: str) -> int:
        return self.paths.count((method, path))


# --- the happy path -------------------------------------------------------------------------


def test_sent_counters_stay_true_when_not_every_payment_was_issued(
    phee_program: PheeProgram,
) -> None:
    """A batch holding a payment already reconciled when the batch is sent: the payment was
    counted sent and paid when it was reconciled, and the send counts only the others."""
    p = phee_program
    p.configure(max_batch_size=2)
    cycle = p.prepared_cycle(4)
    odd, usual = p.batches(cycle)
    first = p.payments(odd)[0]
    reconcile_payments(p.session, [Outcome(first.id, PaymentStatus.PAID, first.amount_issued)])
    p.session.commit()

    assert [r.outcome for r in send(p, cycle).results] == ["submitted", "submitted"]

    odd, usual = p.batches(cycle)
    assert (odd.sent_count, odd.paid_count, odd.paid_amount) == (2, 1, first.amount_issued)
    assert (usual.sent_count, usual.sent_amount) == (usual.issued_count, usual.issued_amount)
    assert usual.paid_count == 0
    assert [pay.state for pay in p.payments(odd)] == [PaymentState.RECONCILED, PaymentState.SENT]
    assert {pay.state for pay in p.payments(usual)} == {PaymentState.SENT}


def test_happy_path_send_then_sync_to_completion(phee_program: PheeProgram) -> None:
    p, hub = phee_program, phee_program.hub
    p.configure(max_batch_size=6)
    cycle = p.prepared_cycle(8)  # a batch of 6 (PHEE splits it in two sub-batches) and one of 2
    hub.set_outcomes({"delay_seconds": 60})

    report = send(p, cycle)
    assert [r.outcome for r in report.results] == ["submitted", "submitted"]
    batches = p.batches(cycle)
    for batch, result in zip(batches, report.results, strict=True):
        assert batch.state is BatchState.SUBMITTED
        assert batch.send_attempts == 1
        assert batch.phee_batch_id == result.phee_batch_id
        assert batch.submitted_at is not None
        assert batch.sent_count == batch.issued_count
        assert {pay.state for pay in p.payments(batch)} == {PaymentState.SENT}
        saved = httpx.get(f"{hub.base_url}/_emulator/files/{batch.phee_batch_id}/request.csv")
        assert saved.content == service.batch_file(p.session, p.admin, batch).data
    with p.client() as client:
        for batch in batches:
            found = client.find_batch(batch.correlation_id)
            assert found is not None
            assert found.phee_batch_id == batch.phee_batch_id

    running = sync(p, cycle)
    assert running.reconciled == 0
    assert [b.state for b in p.batches(cycle)] == [BatchState.SUBMITTED] * 2

    hub.advance(60)
    done = sync(p, cycle)
    assert done.reconciled == 8
    assert all(r.completed and not r.problems and r.error is None for r in done.results)
    for batch in p.batches(cycle):
        assert batch.state is BatchState.COMPLETED
        assert batch.completed_at is not None
        assert (batch.paid_count, batch.failed_count) == (batch.issued_count, 0)
        assert batch.paid_amount == batch.issued_amount
        assert_all_paid(p, batch, Decimal(100))
        assert actions(p, batch) == [
            "batch.sending",
            "batch.submitted",
            "batch.synced",  # still running: nothing reconciled
            "batch.completed",
            "batch.synced",
        ]

    inspection = assert_nobody_paid_twice(hub)
    ids = {str(pay.id) for b in p.batches(cycle) for pay in p.payments(b)}
    assert set(inspection["request_ids"]) == ids
    assert all(inspection["request_ids"][rid]["paid"] == 1 for rid in ids)

    service.mark_distributed(p.session, p.admin, cycle)  # every payment is final
    assert cycle.state is CycleState.DISTRIBUTED


# --- PHEE refuses the batch -----------------------------------------------------------------


def test_a_batch_refused_for_an_unknown_tenant_is_resent_after_the_fix(
    phee_program: PheeProgram,
) -> None:
    p, hub = phee_program, phee_program.hub
    p.configure(tenant_id="atlantis", auth_endpoint_url=None)
    cycle = p.prepared_cycle(2)

    report = send(p, cycle)
    [batch] = p.batches(cycle)
    assert report.results[0].outcome == "rejected"
    assert batch.state is BatchState.REJECTED
    assert batch.phee_batch_id is None
    assert "412" in (batch.last_error or "")
    assert batch.last_response is not None
    assert batch.last_response["status"] == 412
    assert "Process definition not found" in batch.last_response["body"]
    assert {pay.state for pay in p.payments(batch)} == {PaymentState.ISSUED}
    assert hub.inspect()["request_ids"] == {}
    correlation_id = batch.correlation_id

    p.configure(tenant_id="gorilla")
    report = send(p, cycle)
    [batch] = p.batches(cycle)
    assert report.results[0].outcome == "submitted"
    assert batch.state is BatchState.SUBMITTED
    assert batch.send_attempts == 2
    assert batch.correlation_id == correlation_id
    assert {pay.state for pay in p.payments(batch)} == {PaymentState.SENT}
    with p.client() as client:
        found = client.find_batch(correlation_id)
    assert found is not None
    assert found.phee_batch_id == batch.phee_batch_id
    inspection = assert_nobody_paid_twice(hub)
    assert len(inspection["request_ids"]) == 2
    assert "batch.rejected" in actions(p, batch)


def test_unsigned_batch_refused_by_a_verifying_hub_then_signed_and_accepted(
    phee_program: PheeProgram,
) -> None:
    """The signature vectors' key pair: the emulator checks our X-SIGNATURE over the exact
    file we stored, with our correlation id and tenant."""
    p, hub = phee_program, phee_program.hub
    vectors = json.loads((SHARED_REFERENCE / "phee-signature-vectors.json").read_text())
    hub.update_config(
        {
            "jws": {
                "verify_requests": True,
                "keys": {"gorilla": {"public_key": vectors["public_key_pem"]}},
            }
        }
    )
    cycle = p.prepared_cycle(3)

    send(p, cycle)
    [batch] = p.batches(cycle)
    assert batch.state is BatchState.REJECTED
    assert batch.last_response is not None
    assert batch.last_response["status"] == 400
    assert "InvalidPublicKeyConfigured" in batch.last_response["body"]  # no X-SIGNATURE
    assert hub.inspect()["request_ids"] == {}

    p.configure({"signing_private_key": vectors["private_key_pkcs8_pem"]})
    report = send(p, cycle)
    [batch] = p.batches(cycle)
    assert report.results[0].outcome == "submitted"
    assert (batch.state, batch.send_attempts) == (BatchState.SUBMITTED, 2)
    hub.complete_all()
    sync(p, cycle)
    assert_all_paid(p, p.batches(cycle)[0], Decimal(100))
    assert_nobody_paid_twice(hub)


# --- token expiry ---------------------------------------------------------------------------


def test_token_expiring_mid_run_is_refreshed_and_nothing_is_sent_twice(
    phee_program: PheeProgram,
) -> None:
    p, hub = phee_program, phee_program.hub
    hub.update_config({"auth": {"enforce_bearer": True, "enforce_bearer_on_upload": True}})
    p.configure(max_batch_size=2)
    cycle = p.prepared_cycle(6)
    ids = [b.id for b in p.batches(cycle)]
    expired: list[str] = []

    def expire_once(request: httpx.Request, response: httpx.Response) -> None:
        # The hub revokes every token right after the first batch was accepted.
        if request.method == "POST" and response.status_code == 202 and not expired:
            expired.append(request.url.path)
            hub.expire_tokens()

    transport = CountingTransport(expire_once)
    with p.client(transport=transport) as client:
        report = send_batches(p.factory, p.admin, p.manager(), ids, client=client)
    assert [r.outcome for r in report.results] == ["submitted"] * 3
    assert transport.count("POST", "/oauth/token") == 2
    assert transport.count("POST", "/batchtransactions") == 4  # the second one met a 401
    assert [b.send_attempts for b in p.batches(cycle)] == [1, 1, 1]

    hub.complete_all()
    expired.clear()

    def expire_after_first_read(request: httpx.Request, response: httpx.Response) -> None:
        if request.method == "GET" and response.status_code == 200 and not expired:
            expired.append(request.url.path)
            hub.expire_tokens()

    transport = CountingTransport(expire_after_first_read)
    with p.client(transport=transport) as client:
        synced = sync_batches(p.factory, p.admin, p.manager(), ids, client=client)
    assert [r.completed for r in synced.results] == [True] * 3
    assert transport.count("POST", "/oauth/token") == 2
    for batch in p.batches(cycle):
        assert batch.state is BatchState.COMPLETED
        assert_all_paid(p, batch, Decimal(100))
    assert_nobody_paid_twice(hub)


# --- upload faults: outcome unknown, lookup, never twice -------------------------------------


@pytest.mark.parametrize(
    ("rule", "stored", "second_outcome"),
    [
        ({"kind": "error_5xx", "status": 503}, False, "submitted"),
        ({"kind": "error_5xx", "status": 502, "after_store": True}, True, "found_at_phee"),
        ({"kind": "drop"}, True, "found_at_phee"),
        ({"kind": "drop", "after_store": False}, False, "submitted"),
        ({"kind": "hang", "seconds": 30}, True, "found_at_phee"),
    ],
    ids=["5xx-before-store", "5xx-after-store", "drop-after-store", "drop-before-store", "hang"],
)
def test_upload_faults_are_looked_up_before_any_resend(
    phee_program: PheeProgram, rule: dict[str, Any], stored: bool, second_outcome: str
) -> None:
    p, hub = phee_program, phee_program.hub
    p.configure(batch_request_timeout=1)
    cycle = p.prepared_cycle(3)
    hub.set_faults({"rules": [{**rule, "endpoints": ["upload"], "times": 1}]})

    first = send(p, cycle)
    hub.release_hangs()
    [batch] = p.batches(cycle)
    assert first.results[0].outcome == "outcome_unknown"
    assert batch.state is BatchState.OUTCOME_UNKNOWN
    assert batch.phee_batch_id is None
    assert batch.last_error
    assert {pay.state for pay in p.payments(batch)} == {PaymentState.ISSUED}
    assert len(stored_batches(hub)) == (1 if stored else 0)
    correlation_id = batch.correlation_id

    if not stored:  # not found at once: not resent until the quiet period has passed
        waiting = send(p, cycle)
        assert waiting.results[0].outcome == "outcome_unknown"
        assert "looked up again from" in waiting.results[0].message
        assert stored_batches(hub) == []
        p.let_quiet_period_pass(cycle)
    second = send(p, cycle)
    [batch] = p.batches(cycle)
    assert second.results[0].outcome == second_outcome
    assert batch.state is BatchState.SUBMITTED
    assert batch.send_attempts == (2 if stored else 3)
    assert batch.correlation_id == correlation_id
    assert {pay.state for pay in p.payments(batch)} == {PaymentState.SENT}
    [kept] = stored_batches(hub)  # one batch at PHEE, whichever attempt delivered it
    assert batch.phee_batch_id == kept["batch_id"]
    with p.client() as client:
        found = client.find_batch(correlation_id)
    assert found is not None
    assert found.phee_batch_id == batch.phee_batch_id

    hub.complete_all()
    sync(p, cycle)
    [batch] = p.batches(cycle)
    assert batch.state is BatchState.COMPLETED
    assert_all_paid(p, batch, Decimal(100))
    inspection = assert_nobody_paid_twice(hub)
    assert all(seen["accepted"] == 1 for seen in inspection["request_ids"].values())
    assert len(inspection["request_ids"]) == 3


def test_a_failed_lookup_keeps_the_batch_unknown_and_never_resends(
    phee_program: PheeProgram,
) -> None:
    p, hub = phee_program, phee_program.hub
    cycle = p.prepared_cycle(2)
    hub.set_faults({"rules": [{"kind": "drop", "endpoints": ["upload"], "times": 1}]})
    send(p, cycle)
    [batch] = p.batches(cycle)
    assert batch.state is BatchState.OUTCOME_UNKNOWN

    hub.set_faults({"rules": [{"kind": "error_5xx", "endpoints": ["list"]}]})
    with p.client() as client:
        report = send_batches(p.factory, p.admin, p.manager(), [batch.id], client=client)
    [batch] = p.batches(cycle)
    assert report.results[0].outcome == "outcome_unknown"
    assert batch.state is BatchState.OUTCOME_UNKNOWN
    assert "lookup" in (batch.last_error or "")
    assert len(stored_batches(hub)) == 1

    hub.clear_faults()
    report = send(p, cycle)
    [batch] = p.batches(cycle)
    assert report.results[0].outcome == "found_at_phee"
    assert (batch.state, batch.send_attempts) == (BatchState.SUBMITTED, 3)
    assert len(stored_batches(hub)) == 1
    assert_nobody_paid_twice(hub)


def test_the_lookup_reaches_back_to_the_first_attempt(phee_program: PheeProgram) -> None:
    """Attempt 1 reaches PHEE but its answer is lost; attempt 2's lookup fails; attempt 3 comes
    an hour after attempt 2. Its lookup must still cover attempt 1, or it would resend."""
    p, hub = phee_program, phee_program.hub
    cycle = p.prepared_cycle(2)
    hub.set_faults({"rules": [{"kind": "drop", "endpoints": ["upload"], "times": 1}]})
    send(p, cycle)
    hub.set_faults({"rules": [{"kind": "error_5xx", "endpoints": ["list"]}]})
    [batch] = p.batches(cycle)
    with p.client() as client:
        send_batches(p.factory, p.admin, p.manager(), [batch.id], client=client)
    hub.clear_faults()
    with unit_of_work(p.factory) as session:  # attempt 2 happened an hour after attempt 1
        session.execute(
            update(PaymentBatch)
            .where(PaymentBatch.id == batch.id)
            .values(claimed_at=utcnow() + timedelta(hours=1))
        )

    report = send(p, cycle)
    assert report.results[0].outcome == "found_at_phee"
    assert len(stored_batches(hub)) == 1
    assert_nobody_paid_twice(hub)


def test_a_batch_left_sending_by_a_dead_worker_is_found_not_resent(
    phee_program: PheeProgram,
) -> None:
    p, hub = phee_program, phee_program.hub
    cycle = p.prepared_cycle(2)
    [batch] = p.batches(cycle)
    # The worker claimed the batch and its upload reached PHEE; then it died.
    set_batch_state(
        p.session,
        p.admin,
        batch,
        BatchState.SENDING,
        claimed_by="dead:1",
        claimed_at=utcnow() - timedelta(hours=1),
        send_attempts=1,
    )
    p.session.commit()
    with p.client() as client:
        client.upload_batch(
            file_name=batch.file_name,
            csv_bytes=service.batch_file(p.session, p.admin, batch).data,
            correlation_id=batch.correlation_id,
        )

    report = send(p, cycle)
    [batch] = p.batches(cycle)
    assert report.results[0].outcome == "found_at_phee"
    assert (batch.state, batch.send_attempts) == (BatchState.SUBMITTED, 2)
    assert "batch.outcome_unknown" in actions(p, batch)
    assert len(stored_batches(hub)) == 1
    assert_nobody_paid_twice(hub)


def test_a_batch_that_cannot_be_sent_does_not_stop_the_others_nor_stay_sending(
    phee_program: PheeProgram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error after the claim (here: the client blows up before anything leaves)
    still records every batch (none stays ``sending``), and the other batches are tried."""
    p, hub = phee_program, phee_program.hub
    p.configure(max_batch_size=1, callback_base_url="https://pay.example.org/api/v1")
    cycle = p.prepared_cycle(2)
    from g2p_payment_phee.phee.client import PheeClient

    real_upload = PheeClient.upload_batch
    calls: list[str] = []

    def broken_upload(self: PheeClient, **kwargs: Any) -> Any:
        calls.append(kwargs["correlation_id"])
        raise RuntimeError(f"header refused: {kwargs['callback_url']}")

    monkeypatch.setattr(PheeClient, "upload_batch", broken_upload)
    report = send(p, cycle)
    assert [r.outcome for r in report.results] == ["outcome_unknown", "outcome_unknown"]
    assert len(calls) == 2
    assert [b.state for b in p.batches(cycle)] == [BatchState.OUTCOME_UNKNOWN] * 2
    for batch in p.batches(cycle):
        assert "header refused" in (batch.last_error or "")
        assert callback_token(batch.id) not in (batch.last_error or "")  # the batch's secret
    assert stored_batches(hub) == []

    monkeypatch.setattr(PheeClient, "upload_batch", real_upload)
    p.let_quiet_period_pass(cycle)
    report = send(p, cycle)
    assert [r.outcome for r in report.results] == ["submitted", "submitted"]
    assert_nobody_paid_twice(hub)


# --- partial failures and retries -----------------------------------------------------------


def test_partial_failures_then_retry_pays_only_the_failed(phee_program: PheeProgram) -> None:
    p, hub = phee_program, phee_program.hub
    p.configure(max_batch_size=3)
    cycle = p.prepared_cycle(5)
    hub.set_outcomes(
        {
            # the file writes phones as digits (msisdn_format "digits", the default)
            "failing_payees": {"254700000001": "Payee account closed", "254700000004": "Blocked"},
            "quote_client_correlation_ids": True,  # '"<uuid>"', as a live PHEE answers
        }
    )
    send(p, cycle)
    report = sync(p, cycle)
    assert (sum(r.paid for r in report.results), sum(r.failed for r in report.results)) == (3, 2)

    failed_entitlements = set()
    for batch in p.batches(cycle):
        assert batch.state is BatchState.COMPLETED
        for payment in p.payments(batch):
            assert payment.state is PaymentState.RECONCILED
            if payment.payee_id_value in ("+254700000001", "+254700000004"):
                assert payment.status is PaymentStatus.FAILED
                assert payment.amount_paid is None
                assert payment.failure_reason == (
                    "Payee account closed" if payment.payee_id_value.endswith("1") else "Blocked"
                )
                failed_entitlements.add(payment.entitlement_id)
            else:
                assert payment.status is PaymentStatus.PAID
                assert payment.amount_paid == Decimal(100)
    for batch in p.batches(cycle):
        failed = [pay for pay in p.payments(batch) if pay.status is PaymentStatus.FAILED]
        assert batch.failed_count == len(failed)
        assert batch.failed_amount == Decimal(100) * len(failed)
        assert batch.paid_count == batch.issued_count - len(failed)
        assert batch.paid_amount == Decimal(100) * batch.paid_count
    old_ids = {str(pay.id) for b in p.batches(cycle) for pay in p.payments(b)}

    hub.set_outcomes({})
    retried = service.retry_failed(p.session, p.admin, cycle)
    p.session.commit()
    assert retried.created == 2
    new_batches = [b for b in p.batches(cycle) if b.state is BatchState.PREPARED]
    assert len(new_batches) == 1
    new_payments = p.payments(new_batches[0])
    assert {pay.entitlement_id for pay in new_payments} == failed_entitlements
    assert not {str(pay.id) for pay in new_payments} & old_ids

    resent = send(p, cycle)
    assert [r.outcome for r in resent.results] == ["submitted"]  # only the new batch
    sync(p, cycle)
    assert_all_paid(p, p.batches(cycle)[-1], Decimal(100))
    inspection = assert_nobody_paid_twice(hub)
    assert len(inspection["request_ids"]) == 7
    paid_entitlements = p.session.scalar(
        select(func.count(func.distinct(Payment.entitlement_id))).where(
            Payment.cycle_id == cycle.id, Payment.status == PaymentStatus.PAID
        )
    )
    assert paid_entitlements == 5
    service.mark_distributed(p.session, p.admin, cycle)
    assert cycle.state is CycleState.DISTRIBUTED


def test_resync_after_completion_changes_nothing(phee_program: PheeProgram) -> None:
    p, hub = phee_program, phee_program.hub
    cycle = p.prepared_cycle(3)
    hub.set_outcomes({"failing_payees": {"254700000002": "Payee account closed"}})
    send(p, cycle)
    sync(p, cycle)
    [batch] = p.batches(cycle)
    assert batch.state is BatchState.COMPLETED
    before_payments = payment_rows(p, cycle)
    before_batch = (batch.state, batch.paid_count, batch.failed_count, batch.completed_at)
    before_audit = audit_count(p)

    hub.complete_all()
    again = sync(p, cycle)
    assert again.results == []  # a completed batch is not polled again
    forced = sync_batches(p.factory, p.admin, p.manager(), [batch.id], force=True)
    assert forced.results == []  # (only watched for duplicates at the hub)

    [batch] = p.batches(cycle)
    assert payment_rows(p, cycle) == before_payments
    assert (batch.state, batch.paid_count, batch.failed_count, batch.completed_at) == before_batch
    assert audit_count(p) == before_audit
    assert_nobody_paid_twice(hub)


# --- answers that make no sense -------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["status", "details"])
def test_malformed_json_on_reads_is_reported_and_changes_nothing(
    phee_program: PheeProgram, endpoint: str
) -> None:
    p, hub = phee_program, phee_program.hub
    cycle = p.prepared_cycle(2)
    send(p, cycle)
    hub.set_faults({"rules": [{"kind": "malformed_json", "endpoints": [endpoint], "times": 1}]})

    report = sync(p, cycle)
    [result] = report.results
    assert result.error is not None
    assert "not JSON" in result.error
    assert report.reconciled == 0
    [batch] = p.batches(cycle)
    assert batch.state is BatchState.SUBMITTED
    assert {pay.state for pay in p.payments(batch)} == {PaymentState.SENT}

    report = sync(p, cycle)  # the hub makes sense again: the summary is read afresh
    assert report.results[0].completed
    assert_all_paid(p, p.batches(cycle)[0], Decimal(100))
    assert_nobody_paid_twice(hub)


class ScriptedReads:
    """PHEE's read face answering what the test scripts: a summary and pages of details.

    Used with ``httpx.MockTransport`` for answers the emulator never gives."""

    def __init__(self) -> None:
        self.summary: dict[str, Any] | str = {}
        self.rows: list[Any] = []
        self.pages: list[list[Any]] | None = None

    def finished(self, total: int, successful: int, failed: int) -> None:
        self.summary = {"total": total, "ongoing": 0, "successful": successful, "failed": failed}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": "scripted", "expires_in": 600})
        if path.endswith("/batch/detail"):
            pages = self.pages if self.pages is not None else [self.rows]
            number = int(request.url.params["pageNo"])
            body = {"content": pages[number], "totalPages": len(pages), "last": False}
            return httpx.Response(200, json=body)
        if isinstance(self.summary, str):
            return httpx.Response(200, text=self.summary)
        return httpx.Response(200, json=self.summary)


def row(payment: Payment | str, status: str | None, **fields: Any) -> dict[str, Any]:
    key = payment if isinstance(payment, str) else str(payment.id)
    data: dict[str, Any] = {"clientCorrelationId": key, "transactionId": f"tx-{key[:8]}"}
    if status is not None:
        data["status"] = status
    data.setdefault("amount", "100")
    data["completedAt"] = 1_767_225_600_000
    data.update(fields)
    return data


def scripted_sync(p: PheeProgram, reads: ScriptedReads, batch: PaymentBatch) -> SyncReport:
    with p.client(transport=httpx.MockTransport(reads)) as client:
        return sync_batches(p.factory, p.admin, p.manager(), [batch.id], client=client)


def sent_batches(p: PheeProgram, beneficiaries: int, per_batch: int) -> list[PaymentBatch]:
    """Batches submitted to the emulator (whose own answers are not used afterwards)."""
    p.configure(max_batch_size=per_batch)
    cycle = p.prepared_cycle(beneficiaries)
    p.hub.set_outcomes({"delay_seconds": 3600})
    send(p, cycle)
    batches = p.batches(cycle)
    assert {b.state for b in batches} == {BatchState.SUBMITTED}
    return batches


def test_surprising_details_are_reported_and_never_misapplied(phee_program: PheeProgram) -> None:
    p = phee_program
    batch, other = sent_batches(p, 6, 4)
    a, b, c, d = p.payments(batch)
    [stranger] = p.payments(other)[:1]
    reads = ScriptedReads()
    reads.finished(4, 1, 0)
    reads.rows = [
        row(a, "COMPLETED", amount="90"),  # paid, but not what was sent
        row(b, "SETTLING"),  # a status nobody knows
        row(c, None),  # no status at all
        row(str(uuid.uuid4()), "COMPLETED"),  # nobody's payment
        row(stranger, "COMPLETED"),  # another batch's payment
        {"status": "COMPLETED", "amount": "100"},  # no clientCorrelationId
        "not an object",
        row(d, "COMPLETED", amount="abc", completedAt="yesterday"),  # unreadable fields
    ]

    report = scripted_sync(p, reads, batch)
    [result] = report.results
    assert result.error is None
    problems = result.problems
    assert f"payment {a.id}: PHEE paid 90, " in " | ".join(problems)
    assert f"payment {b.id}: status 'SETTLING' not understood; left as is" in problems
    assert "detail page 0 row 2: the row has no status; read as UNKNOWN" in problems
    assert f"transfer for unknown payment '{stranger.id}' ignored" in problems
    assert sum("unknown payment" in problem for problem in problems) == 2
    assert "detail page 0 row 5: the row has no clientCorrelationId" in problems
    assert "detail page 0 row 6: the row is not a JSON object" in problems
    assert "detail page 0 row 7: amount 'abc' is not a number" in problems
    assert sum("row 7" in problem for problem in problems) == 2  # and the bad completedAt
    [batch] = [x for x in p.batches(batch.cycle) if x.id == batch.id]
    assert batch.last_response is not None
    assert batch.last_response["problems"] == result.problems
    assert batch.state is BatchState.SUBMITTED

    by_id = {pay.id: pay for pay in p.payments(batch)}
    assert (by_id[a.id].status, by_id[a.id].amount_paid) == (PaymentStatus.PAID, Decimal(90))
    assert by_id[b.id].state is PaymentState.SENT
    assert by_id[c.id].state is PaymentState.SENT
    assert (by_id[d.id].status, by_id[d.id].amount_paid) == (PaymentStatus.PAID, Decimal(100))
    assert p.payments(other)[0].state is PaymentState.SENT
    assert batch.paid_amount == Decimal(190)

    # PHEE now contradicts itself about a final payment and settles the others.
    reads.finished(4, 2, 2)
    reads.rows = [
        row(a, "FAILED", errorInformation="too late"),
        row(b, "COMPLETED"),
        row(c, "ABORTED", errorInformation={"errorCode": "5001", "message": "Timeout"}),
        row(d, "COMPLETED"),
    ]
    report = scripted_sync(p, reads, batch)
    assert report.results[0].completed
    assert report.results[0].problems == [
        f"payment {a.id}: PHEE now reports FAILED, but it is final as paid; left as is"
    ]
    by_id = {pay.id: pay for pay in p.payments(batch)}
    assert (by_id[a.id].status, by_id[a.id].amount_paid) == (PaymentStatus.PAID, Decimal(90))
    assert by_id[b.id].status is PaymentStatus.PAID
    assert by_id[c.id].status is PaymentStatus.FAILED
    assert json.loads(by_id[c.id].failure_reason or "") == {
        "errorCode": "5001",
        "message": "Timeout",
    }
    assert p.payments(other)[0].state is PaymentState.SENT


def test_a_transfer_listed_twice_is_applied_once_and_contradictions_not_at_all(
    phee_program: PheeProgram,
) -> None:
    """Pages shift while PHEE is still writing: a row may come twice, even with two stories."""
    p = phee_program
    [batch] = sent_batches(p, 3, 3)
    a, b, c = p.payments(batch)
    reads = ScriptedReads()
    reads.finished(3, 2, 1)
    reads.pages = [
        [row(a, "COMPLETED"), row(b, "COMPLETED")],
        [row(b, "COMPLETED"), row(c, "COMPLETED")],
        [row(c, "FAILED", errorInformation="Insufficient funds")],
    ]

    report = scripted_sync(p, reads, batch)
    [result] = report.results
    assert result.error is None
    twice = f"payment {c.id}: PHEE lists it twice, paid 100 and failed (Insufficient funds)"
    assert result.problems == [f"{twice}; left as is"]
    assert (result.paid, result.failed) == (2, 0)
    by_id = {pay.id: pay for pay in p.payments(batch)}
    assert by_id[a.id].status is PaymentStatus.PAID
    assert by_id[b.id].status is PaymentStatus.PAID
    assert by_id[c.id].state is PaymentState.SENT  # PHEE said both: nobody guesses
    assert p.batches(batch.cycle)[0].paid_count == 2


def test_details_lagging_behind_the_summary_are_read_again(phee_program: PheeProgram) -> None:
    """The summary says the batch is finished while a detail row is still in progress: the next
    sync must read the details again although the summary did not change."""
    p = phee_program
    [batch] = sent_batches(p, 2, 2)
    a, b = p.payments(batch)
    reads = ScriptedReads()
    reads.finished(2, 2, 0)
    reads.rows = [row(a, "COMPLETED"), row(b, "IN_PROGRESS")]
    scripted_sync(p, reads, batch)
    assert p.payments(batch)[1].state is PaymentState.SENT

    reads.rows = [row(a, "COMPLETED"), row(b, "COMPLETED")]
    report = scripted_sync(p, reads, batch)
    assert report.results[0].completed
    assert_all_paid(p, batch, Decimal(100))


@pytest.mark.parametrize(
    "summary",
    [
        "<html>Bad gateway</html>",
        {"total": 2, "successful": 2, "failed": 0},  # no ongoing
        {"total": 2, "ongoing": -1, "successful": 2, "failed": 0},
        ["not", "an", "object"],
    ],
    ids=["not-json", "missing-field", "negative-count", "not-an-object"],
)
def test_an_unusable_summary_is_an_error_not_a_change(
    phee_program: PheeProgram, summary: Any
) -> None:
    p = phee_program
    [batch] = sent_batches(p, 2, 2)
    reads = ScriptedReads()
    reads.summary = summary if isinstance(summary, str | dict) else json.dumps(summary)
    reads.rows = [row(pay, "COMPLETED") for pay in p.payments(batch)]
    report = scripted_sync(p, reads, batch)
    [result] = report.results
    assert result.error is not None
    assert "batch summary" in result.error
    assert report.reconciled == 0
    assert {pay.state for pay in p.payments(batch)} == {PaymentState.SENT}
    assert p.batches(batch.cycle)[0].state is BatchState.SUBMITTED
