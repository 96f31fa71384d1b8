"""Never pay twice when the hub stores an upload late (SPEC 2.3): the quiet period, duplicates
at the hub found and reported, claims of a killed send released by their lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import unit_of_work, utcnow
from g2p_payment_phee.errors import BusinessRuleViolation, PermissionDenied
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.duplicates import (
    HubCompletion,
    acknowledge_paid_twice,
    paid_twice,
    record_hub_completions,
)
from g2p_payment_phee.payments.models import DuplicatePayment
from g2p_payment_phee.payments.resend import release_lapsed_claims
from g2p_payment_phee.payments.states import BatchState, PaymentStatus
from g2p_payment_phee.phee import send
from g2p_payment_phee.phee.send_leases import DatabaseThread, LeaseKeeper
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice

HELD = {"kind": "late_store", "seconds": 600, "times": 1}


def stored(p: PheeProgram) -> list[dict[str, Any]]:
    answer = httpx.get(f"{p.hub.base_url}/_emulator/batches")
    answer.raise_for_status()
    data = answer.json()
    return list(data["batches"] if isinstance(data, dict) else data)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    pause = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        pause.wait(0.05)
    pytest.fail(f"timed out waiting for {what}")


def send_now(p: PheeProgram, cycle: Cycle) -> Any:
    return service.send_cycle(p.factory, p.admin, cycle.id)


def test_a_late_store_is_waited_for_and_found_never_resent(phee_program: PheeProgram) -> None:
    """The story: the upload hangs at the hub past the client's timeout, the operator sends
    again at once (not resent: the quiet period), then the hub stores it and the next send
    finds it. Every request_id accepted once."""
    p, hub = phee_program, phee_program.hub
    p.configure(batch_request_timeout=1)
    cycle = p.prepared_cycle(3)
    hub.set_faults({"rules": [HELD]})

    first = send_now(p, cycle)
    assert first.results[0].outcome == "outcome_unknown"
    hub.wait_for_held(1)

    again = send_now(p, cycle)  # the operator, at once
    [batch] = p.batches(cycle)
    assert again.results[0].outcome == "outcome_unknown"
    assert "looked up again from" in again.results[0].message
    assert "(in 15 min)" in again.results[0].message  # the default quiet period, 900 s
    assert batch.state is BatchState.OUTCOME_UNKNOWN
    assert (stored(p), hub.held_requests()) == ([], 1)  # nothing uploaded a second time

    hub.release_hangs()  # the hub gets round to storing the first upload
    wait_until(lambda: len(stored(p)) == 1, "the late store")
    found = send_now(p, cycle)
    [batch] = p.batches(cycle)
    assert found.results[0].outcome == "found_at_phee"
    assert batch.phee_batch_id == stored(p)[0]["batch_id"]
    assert batch.send_attempts == 3

    hub.complete_all()
    synced = service.sync_cycle(p.factory, p.admin, cycle.id)
    assert synced.problems == []
    assert [pay.status for pay in p.payments(batch)] == [PaymentStatus.PAID] * 3
    seen = assert_nobody_paid_twice(hub)
    assert len(seen["request_ids"]) == 3
    assert paid_twice(p.session, cycle.id).found is False


def test_a_store_later_than_the_quiet_period_is_found_reported_and_blocks_distribution(
    phee_program: PheeProgram,
) -> None:
    """The hub stores the first upload after the quiet period and after the resend was
    accepted: two PHEE batches, every payment paid twice. The sync reads both, records each
    payment paid twice and the cycle cannot be distributed until an approver acknowledges."""
    p, hub = phee_program, phee_program.hub
    p.configure(batch_request_timeout=1)
    cycle = p.prepared_cycle(2)
    hub.set_faults({"rules": [HELD]})
    assert send_now(p, cycle).results[0].outcome == "outcome_unknown"
    hub.wait_for_held(1)

    p.let_quiet_period_pass(cycle)
    resent = send_now(p, cycle)
    assert resent.results[0].outcome == "submitted"
    hub.release_hangs()
    wait_until(lambda: len(stored(p)) == 2, "the late store")
    hub.complete_all()

    synced = service.sync_cycle(p.factory, p.admin, cycle.id)
    [batch] = p.batches(cycle)
    assert any("PHEE holds it 2 times" in line for line in synced.problems)
    others = {b["batch_id"] for b in stored(p)} - {batch.phee_batch_id}
    assert batch.phee_duplicate_ids == sorted(others)
    assert hub.inspect()["accepted_more_than_once"]  # the hub's own word: paid twice
    report = paid_twice(p.session, cycle.id)
    assert (report.payments, report.times_paid, report.unacknowledged) == (2, 4, 2)
    assert report.amount_extra == 200
    for record in report.records:
        assert {o["phee_batch_id"] for o in record.occurrences} == {
            b["batch_id"] for b in stored(p)
        }
    actions = p.session.scalars(select(AuditEvent.action)).all()
    assert actions.count("payment.paid_twice") == 2
    assert "batch.duplicated_at_hub" in actions

    with pytest.raises(BusinessRuleViolation, match="PAID TWICE"):
        service.mark_distributed(p.session, p.admin, cycle)
    p.session.rollback()
    with pytest.raises(BusinessRuleViolation, match="reason"):
        acknowledge_paid_twice(p.session, p.approver, cycle, "  ")
    acknowledged = acknowledge_paid_twice(p.session, p.approver, cycle, "recovery letters sent")
    assert acknowledged == 2
    service.mark_distributed(p.session, p.admin, cycle)
    p.session.commit()
    assert paid_twice(p.session, cycle.id).unacknowledged == 0


def test_an_upload_the_hub_stores_twice_is_reported(
    phee_program: PheeProgram, manager: User
) -> None:
    p, hub = phee_program, phee_program.hub
    cycle = p.prepared_cycle(3)
    hub.set_faults({"rules": [{"kind": "store_twice", "times": 1}]})
    assert send_now(p, cycle).results[0].outcome == "submitted"
    hub.complete_all()
    synced = service.sync_cycle(p.factory, p.admin, cycle.id)
    assert len(synced.problems) == 1
    report = paid_twice(p.session, cycle.id)
    assert (report.payments, report.times_paid) == (3, 6)
    records = p.session.scalars(select(DuplicatePayment)).all()
    assert {r.correlation_id for r in records} == {p.batches(cycle)[0].correlation_id}
    with pytest.raises(PermissionDenied):
        acknowledge_paid_twice(p.session, manager, cycle, "not mine to say")


def test_a_lapsed_claim_goes_back_when_its_upload_never_started(
    phee_program: PheeProgram,
) -> None:
    p = phee_program
    p.configure(max_batch_size=1)
    cycle = p.prepared_cycle(2)
    ids = [b.id for b in p.batches(cycle)]
    send._claim_chunk(p.factory, p.admin, ids)  # claimed, then the process "dies"
    send._arm(p.factory, p.admin, ids[1:])  # the second one's upload may have started
    claimed = p.batches(cycle)
    assert {b.state for b in claimed} == {BatchState.SENDING}
    leases = {b.id: b.lease_until for b in claimed}
    lease_end = max(lease for lease in leases.values() if lease is not None)
    with unit_of_work(p.factory) as session:
        assert release_lapsed_claims(session, None, now=lease_end - timedelta(seconds=1)) == []
    with unit_of_work(p.factory) as session:
        assert len(release_lapsed_claims(session, None, now=lease_end + timedelta(seconds=1))) == 2
    never, maybe = p.batches(cycle)
    assert (never.state, never.last_attempt_at) == (BatchState.PREPARED, None)
    assert maybe.state is BatchState.OUTCOME_UNKNOWN
    assert maybe.last_attempt_at == leases[ids[1]]  # the latest moment it may have started
    assert "may have been uploading" in (maybe.last_error or "")


def test_the_heartbeat_renews_only_the_leases_it_holds(phee_program: PheeProgram) -> None:
    p = phee_program
    p.configure(max_batch_size=1)
    cycle = p.prepared_cycle(2)
    ids = [b.id for b in p.batches(cycle)]
    send._claim_chunk(p.factory, p.admin, ids)
    old = utcnow() - timedelta(seconds=5)  # both leases about to lapse, as if time had passed
    for batch in p.batches(cycle):
        batch.lease_until = old
    p.session.commit()
    keeper = LeaseKeeper(p.factory, send.worker_name())
    keeper.hold([ids[0]])
    assert keeper.renew_now() == 1
    held, other = p.batches(cycle)
    assert held.lease_until is not None
    assert held.lease_until > utcnow() + get_settings().send_lease / 2
    assert other.lease_until == old
    keeper.let_go([ids[0]])
    assert keeper.renew_now() == 0


def test_a_killed_send_leaves_no_process_and_nothing_paid_twice(
    phee_program: PheeProgram, db_url: str
) -> None:
    """SIGKILL of a running ``g2p-phee send`` (by PID): no process of it remains; its claims
    hold until their lease lapses, then resolve; every payment is paid exactly once."""
    p, hub = phee_program, phee_program.hub
    p.configure(max_batch_size=1)
    cycle = p.prepared_cycle(8)
    hub.set_faults({"rules": [{"kind": "slow", "seconds": 0.4, "endpoints": ["upload"]}]})
    env = {**os.environ, "G2P_DATABASE_URL": db_url, "G2P_ACTOR": "admin"}
    code = "from g2p_payment_phee.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "send", cycle.name, "--program", p.program.name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: len(stored(p)) >= 3, "three uploads", timeout=60)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # nothing of the send's process group is left
    hub.clear_faults()

    sending = [b for b in p.batches(cycle) if b.state is BatchState.SENDING]
    assert sending  # killed mid-way
    lease_end = max(b.lease_until for b in sending if b.lease_until is not None)
    assert lease_end <= utcnow() + get_settings().send_lease
    with unit_of_work(p.factory) as session:
        released = release_lapsed_claims(session, None, now=lease_end + timedelta(seconds=1))
        assert {b.id for b in released} == {b.id for b in sending}
    assert not [b for b in p.batches(cycle) if b.state is BatchState.SENDING]

    send_now(p, cycle)  # found at the hub, or sent; the ones in doubt wait their quiet period
    p.let_quiet_period_pass(cycle)
    send_now(p, cycle)
    assert {b.state for b in p.batches(cycle)} == {BatchState.SUBMITTED}
    hub.complete_all()
    service.sync_cycle(p.factory, p.admin, cycle.id)
    assert {pay.status for batch in p.batches(cycle) for pay in p.payments(batch)} == {
        PaymentStatus.PAID
    }
    seen = assert_nobody_paid_twice(hub)
    assert len(seen["request_ids"]) == 8


def test_a_payment_completed_outside_its_own_batch_is_recorded(phee_program: PheeProgram) -> None:
    """The hub reports a paid payment completed in another PHEE batch too: recorded with both
    (its own from the payment's row); completions in its own batch only record nothing."""
    p, hub = phee_program, phee_program.hub
    cycle = p.prepared_cycle(2)
    send_now(p, cycle)
    hub.complete_all()
    service.sync_cycle(p.factory, p.admin, cycle.id)
    [batch] = p.batches(cycle)
    first, second = p.payments(batch)
    assert first.phee_transaction_id
    own = HubCompletion(second.id, str(batch.phee_batch_id), Decimal(100), "t-own")
    stray = HubCompletion(first.id, "elsewhere-1", Decimal(100), "t-stray")
    with unit_of_work(p.factory) as session:
        assert record_hub_completions(session, None, [own, stray]) == 1
    [record] = p.session.scalars(select(DuplicatePayment)).all()
    assert record.payment_id == first.id
    assert record.times_paid == 2
    assert record.amount_paid == 200
    assert [(o["phee_batch_id"], o["transaction_id"]) for o in record.occurrences] == sorted(
        [(batch.phee_batch_id, first.phee_transaction_id), ("elsewhere-1", "t-stray")]
    )
    with unit_of_work(p.factory) as session:  # the same news again changes nothing
        assert record_hub_completions(session, None, [stray]) == 0


def test_no_upload_starts_once_the_leases_may_have_lapsed(phee_program: PheeProgram) -> None:
    """If the heartbeat could not renew the claims for most of a lease, another process may
    already have released them: the send uploads nothing more, and the batch is looked up."""
    p = phee_program
    cycle = p.prepared_cycle(2)
    [batch] = p.batches(cycle)
    steps = send._claim_chunk(p.factory, p.admin, [batch.id])
    keeper = LeaseKeeper(p.factory, send.worker_name())
    keeper.hold([batch.id])
    keeper._renewed -= get_settings().send_lease_seconds  # as if every renewal had failed
    with p.client() as hub, DatabaseThread(p.factory, p.admin) as db:
        arming = send._Arming(db, steps, keeper)
        answer = send._attempt(hub, p.manager(), steps[0], arming)
    [result] = send._record_chunk(p.factory, p.admin, [answer])
    assert result.outcome == "outcome_unknown"
    assert "could not be renewed" in result.message
    assert stored(p) == []
    [batch] = p.batches(cycle)
    assert (batch.state, batch.last_attempt_at) == (BatchState.OUTCOME_UNKNOWN, None)
    keeper.renew_now()  # a renewal that works: uploads may start again
    keeper.check_held()


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "malformed_json", "endpoints": ["list"]},  # garbage
        {"kind": "error_5xx", "endpoints": ["list"], "status": 503},
    ],
    ids=["garbage", "5xx"],
)
def test_a_batch_list_that_cannot_be_read_never_leads_to_a_resend(
    phee_program: PheeProgram, rule: dict[str, Any]
) -> None:
    """Even past the quiet period, a batch list that cannot be read proves nothing: the batch
    stays unknown with the reason, and nothing is uploaded again."""
    p, hub = phee_program, phee_program.hub
    p.configure(batch_request_timeout=1)
    cycle = p.prepared_cycle(2)
    hub.set_faults({"rules": [HELD]})
    send_now(p, cycle)
    hub.wait_for_held(1)
    p.let_quiet_period_pass(cycle)
    hub.set_faults({"rules": [rule]})  # (the held upload stays held)
    report = send_now(p, cycle)
    [batch] = p.batches(cycle)
    assert report.results[0].outcome == "outcome_unknown"
    assert batch.state is BatchState.OUTCOME_UNKNOWN
    assert "the lookup at PHEE failed" in (batch.last_error or "")
    assert (stored(p), hub.held_requests()) == ([], 1)
    hub.release_hangs()
    wait_until(lambda: len(stored(p)) == 1, "the late store")
    hub.clear_faults()
    assert send_now(p, cycle).results[0].outcome == "found_at_phee"
    assert_nobody_paid_twice(hub)
