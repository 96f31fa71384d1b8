"""Send and sync over many batches: the set-based paths (several batches per transaction)
give each batch exactly what the one-batch path gave it."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.audit import events_for
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.states import BatchState, PaymentState, PaymentStatus
from g2p_payment_phee.phee import send as phee_send
from g2p_payment_phee.phee import sync as phee_sync
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice


@pytest.fixture
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups far smaller than a real run's, so that a handful of batches spans several."""
    monkeypatch.setattr(phee_sync, "READ_BATCHES", 3)
    monkeypatch.setattr(phee_sync, "APPLY_ROWS", 4)
    if hasattr(phee_send, "CLAIM_BATCHES"):
        monkeypatch.setattr(phee_send, "CLAIM_BATCHES", 2)


def test_many_batches_sent_and_synced_in_groups(
    phee_program: PheeProgram, small_groups: None
) -> None:
    p, hub = phee_program, phee_program.hub
    p.configure(max_batch_size=3)
    cycle = p.prepared_cycle(20)  # 7 batches: 6 of 3 and 1 of 2
    hub.set_outcomes({"failure_rate": 0.5})  # neither none nor all of 20 fail (p = 2e-6)

    sent = service.send_cycle(p.factory, p.admin, cycle.id)
    assert [r.outcome for r in sent.results] == ["submitted"] * 7
    for batch in p.batches(cycle):
        assert batch.state is BatchState.SUBMITTED
        assert (batch.sent_count, batch.sent_amount) == (batch.issued_count, batch.issued_amount)
        assert {pay.state for pay in p.payments(batch)} == {PaymentState.SENT}

    hub.complete_all()
    synced = service.sync_cycle(p.factory, p.admin, cycle.id)
    assert synced.reconciled == 20
    assert all(r.completed and r.error is None and not r.problems for r in synced.results)
    failed_total = 0
    for batch, result in zip(p.batches(cycle), synced.results, strict=True):
        assert result.batch == batch.name
        payments = p.payments(batch)
        paid = [pay for pay in payments if pay.status is PaymentStatus.PAID]
        failed = [pay for pay in payments if pay.status is PaymentStatus.FAILED]
        assert (result.paid, result.failed) == (len(paid), len(failed))
        assert all(pay.live for pay in paid)
        assert not any(pay.live for pay in failed)
        assert all(pay.failure_reason for pay in failed)
        assert batch.state is BatchState.COMPLETED
        assert batch.completed_at is not None
        assert (batch.paid_count, batch.failed_count) == (len(paid), len(failed))
        assert batch.paid_amount == Decimal(100) * len(paid)
        assert batch.failed_amount == Decimal(100) * len(failed)
        assert (batch.last_response or {}).get("summary")
        actions = [event.action for event in events_for(p.session, batch)]
        assert actions == ["batch.sending", "batch.submitted", "batch.completed", "batch.synced"]
        failed_total += len(failed)
    assert 0 < failed_total < 20  # both outcomes were applied
    assert_nobody_paid_twice(hub)

    again = service.sync_cycle(p.factory, p.admin, cycle.id)
    assert again.results == []  # every batch completed: nothing left to sync
    assert again.problems == []  # (only watched for a late duplicate at the hub)


def test_a_group_mixing_syncable_and_unsyncable_batches(
    phee_program: PheeProgram, small_groups: None
) -> None:
    p, hub = phee_program, phee_program.hub
    p.configure(max_batch_size=2)
    cycle = p.prepared_cycle(6)  # 3 batches
    first, second, third = p.batches(cycle)
    service.send_cycle(p.factory, p.admin, cycle.id, [first.id, third.id])
    hub.complete_all()
    ids = [first.id, second.id, third.id]
    report = phee_sync.sync_batches(p.factory, p.admin, p.manager(), ids)
    assert [r.batch for r in report.results] == [first.name, second.name, third.name]
    assert report.results[1].error == "not syncable (prepared)"
    assert report.reconciled == 4
    states = [b.state for b in p.batches(cycle)]
    assert states == [BatchState.COMPLETED, BatchState.PREPARED, BatchState.COMPLETED]
    p.session.expire_all()
    untouched = p.session.scalars(select(Payment).where(Payment.batch_id == second.id)).all()
    assert {pay.state for pay in untouched} == {PaymentState.ISSUED}
    assert p.session.get(PaymentBatch, second.id) is not None


class _ClaimWitness(httpx.BaseTransport):
    """The real transport; before each upload leaves, reads (in a session of its own) the
    state the database holds for that batch."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._inner = httpx.HTTPTransport()
        self._factory = factory
        self.seen: list[tuple[BatchState, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/batchtransactions"):
            correlation_id = request.headers["X-CorrelationID"]
            with self._factory() as session:
                row = session.execute(
                    select(PaymentBatch.state, PaymentBatch.send_attempts).where(
                        PaymentBatch.correlation_id == correlation_id
                    )
                ).one()
            self.seen.append((row[0], row[1]))
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_every_upload_leaves_after_its_claim_was_committed(
    phee_program: PheeProgram, small_groups: None
) -> None:
    p = phee_program
    p.configure(max_batch_size=2)
    cycle = p.prepared_cycle(9)  # 5 batches, claimed 2 at a time while others upload
    ids = [b.id for b in p.batches(cycle)]
    witness = _ClaimWitness(p.factory)
    with p.client(transport=witness) as client:
        report = phee_send.send_batches(p.factory, p.admin, p.manager(), ids, client=client)
    assert [r.outcome for r in report.results] == ["submitted"] * 5
    assert witness.seen == [(BatchState.SENDING, 1)] * 5
    assert [b.state for b in p.batches(cycle)] == [BatchState.SUBMITTED] * 5
    assert_nobody_paid_twice(p.hub)


def test_the_next_batch_is_read_while_a_group_is_applied(
    phee_program: PheeProgram, small_groups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first group's apply waits (on an event, at most 10 s) until the second batch was
    read: only a sync that reads while it applies lets it through at once."""
    p, hub = phee_program, phee_program.hub
    p.configure(max_batch_size=3)
    cycle = p.prepared_cycle(6)  # 2 batches
    service.send_cycle(p.factory, p.admin, cycle.id)
    hub.complete_all()
    monkeypatch.setattr(phee_sync, "APPLY_ROWS", 1)  # each batch is a group of its own
    read_one, apply_reads = phee_sync._read_one, phee_sync._apply_reads
    reads: list[object] = []
    second_read = threading.Event()
    overlapped: list[bool] = []

    def reading(*args: Any, **kwargs: Any) -> Any:
        read = read_one(*args, **kwargs)
        reads.append(read)
        if len(reads) == 2:
            second_read.set()
        return read

    def applying(*args: Any) -> None:
        overlapped.append(second_read.wait(timeout=10))
        apply_reads(*args)

    monkeypatch.setattr(phee_sync, "_read_one", reading)
    monkeypatch.setattr(phee_sync, "_apply_reads", applying)
    synced = service.sync_cycle(p.factory, p.admin, cycle.id)
    assert overlapped == [True, True]
    assert synced.reconciled == 6
    assert [b.state for b in p.batches(cycle)] == [BatchState.COMPLETED] * 2


def test_an_apply_that_fails_stops_the_sync_and_is_raised(
    phee_program: PheeProgram, small_groups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, hub = phee_program, phee_program.hub
    p.configure(max_batch_size=3)
    cycle = p.prepared_cycle(6)
    service.send_cycle(p.factory, p.admin, cycle.id)
    hub.complete_all()
    monkeypatch.setattr(phee_sync, "APPLY_ROWS", 1)

    def broken(*args: Any) -> None:
        raise OperationalError("UPDATE payments", {}, Exception("the server closed the connection"))

    monkeypatch.setattr(phee_sync, "_apply_reads", broken)
    with pytest.raises(OperationalError, match="closed the connection"):
        service.sync_cycle(p.factory, p.admin, cycle.id)
    assert [b.state for b in p.batches(cycle)] == [BatchState.SUBMITTED] * 2
    p.session.expire_all()
    assert {pay.state for b in p.batches(cycle) for pay in p.payments(b)} == {PaymentState.SENT}

    monkeypatch.undo()  # the database is back: the next sync applies everything once
    assert service.sync_cycle(p.factory, p.admin, cycle.id).reconciled == 6
    assert_nobody_paid_twice(hub)
