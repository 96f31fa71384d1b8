"""A large send on PostgreSQL claims and records its batches in a process of its own
(``phee/send_worker.py``): every batch ends as on the thread, claimed by that process, with
the parent's settings at the time of the send (its secret key), and PHEE's errors carried
across whole. Here every send counts as large, and the child has answered before it starts."""

from __future__ import annotations

import os
import signal
import socket
from concurrent.futures.process import BrokenProcessPool

import pytest
from sqlalchemy import update

from g2p_payment_phee.audit import events_for
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState, PaymentState
from g2p_payment_phee.phee import send_worker
from g2p_payment_phee.phee.callbacks import callback_token
from g2p_payment_phee.security import hash_token
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice

pytestmark = pytest.mark.postgres
ONLY_POSTGRES = pytest.mark.parametrize("backend", ["postgres"])  # the worker is for PostgreSQL


@pytest.fixture
def child(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every send uses the worker process; its ``claimed_by``."""
    monkeypatch.setattr(send_worker, "PROCESS_FROM", 1)
    pid = send_worker.shared_child().pid()  # waits until it answers: no call goes to the thread
    assert pid != os.getpid()
    return f"{socket.gethostname()}:{pid}"


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret key of this test's own, set before anything is encrypted with it."""
    key = "a-key-only-this-test-knows-0123456789"
    monkeypatch.setenv("G2P_SECRET_KEY", key)
    get_settings.cache_clear()
    return key


@ONLY_POSTGRES
def test_batches_are_claimed_and_recorded_by_the_worker_process(
    secret_key: str, phee_program: PheeProgram, child: str
) -> None:
    p, hub = phee_program, phee_program.hub
    p.configure(max_batch_size=3)
    cycle = p.prepared_cycle(20)  # 7 batches
    # as if prepared before prepare stored callback hashes: the claim (in the child) writes them
    p.session.execute(update(PaymentBatch).values(callback_token_hash=None))
    p.session.commit()

    report = service.send_cycle(p.factory, p.admin, cycle.id)

    assert [r.outcome for r in report.results] == ["submitted"] * 7
    for batch in p.batches(cycle):
        assert batch.claimed_by == child
        assert batch.state is BatchState.SUBMITTED
        assert (batch.sent_count, batch.sent_amount) == (batch.issued_count, batch.issued_amount)
        assert {pay.state for pay in p.payments(batch)} == {PaymentState.SENT}
        # the child computed it with the parent's secret key of this moment
        assert batch.callback_token_hash == hash_token(callback_token(batch.id))
        actions = [e.action for e in events_for(p.session, batch)]
        assert actions.count("batch.sending") == actions.count("batch.submitted") == 1
    assert len(assert_nobody_paid_twice(hub)["request_ids"]) == 20


@ONLY_POSTGRES
def test_a_refusal_is_recorded_by_the_worker_process_with_what_phee_said(
    phee_program: PheeProgram, child: str
) -> None:
    p = phee_program
    p.configure(tenant_id="atlantis", auth_endpoint_url=None)
    cycle = p.prepared_cycle(2)

    report = service.send_cycle(p.factory, p.admin, cycle.id)

    [batch] = p.batches(cycle)
    assert report.results[0].outcome == "rejected"
    assert (batch.state, batch.claimed_by) == (BatchState.REJECTED, child)
    assert "412" in (batch.last_error or "")
    assert batch.last_response is not None
    assert "Process definition not found" in batch.last_response["body"]


@ONLY_POSTGRES
def test_a_dead_worker_process_is_worked_around_then_replaced(
    phee_program: PheeProgram, child: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = phee_program
    p.configure(max_batch_size=3)
    dead = send_worker.shared_child()
    os.kill(dead.pid(), signal.SIGKILL)
    with pytest.raises(BrokenProcessPool):  # the pool has noticed once a call to it fails
        dead.submit(os.getpid).result()
    assert dead.broken()

    cycle = p.prepared_cycle(6)
    first, second = p.batches(cycle)

    # A send that still holds the dead worker goes on with its own thread.
    with monkeypatch.context() as patched:
        patched.setattr(send_worker, "shared_child", lambda: dead)
        report = service.send_cycle(p.factory, p.admin, cycle.id, [first.id])
    assert [r.outcome for r in report.results] == ["submitted"]

    # The next send starts a new worker.
    fresh = send_worker.shared_child()
    assert fresh is not dead
    pid = fresh.pid()
    report = service.send_cycle(p.factory, p.admin, cycle.id, [second.id])
    assert [r.outcome for r in report.results] == ["submitted"]

    first, second = p.batches(cycle)
    assert first.claimed_by == f"{socket.gethostname()}:{os.getpid()}"
    assert second.claimed_by == f"{socket.gethostname()}:{pid}"
    assert {b.state for b in (first, second)} == {BatchState.SUBMITTED}
    assert_nobody_paid_twice(p.hub)


@ONLY_POSTGRES
def test_a_process_that_may_not_start_a_worker_sends_on_its_thread(
    phee_program: PheeProgram, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused() -> send_worker._Child:
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(send_worker, "PROCESS_FROM", 1)
    monkeypatch.setattr(send_worker, "shared_child", refused)
    p = phee_program
    cycle = p.prepared_cycle(2)

    report = service.send_cycle(p.factory, p.admin, cycle.id)

    assert [r.outcome for r in report.results] == ["submitted"]
    [batch] = p.batches(cycle)
    assert batch.claimed_by == f"{socket.gethostname()}:{os.getpid()}"
    assert "daemonic processes are not allowed to have children" in caplog.text
