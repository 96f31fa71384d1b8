"""The sweep of the embedded mode (``InProcessRunner``) is the whole sweep: a cycle sent from a
page becomes paid with nobody asking for a sync, and a batch whose outcome stayed unknown past
its quiet period is resolved by a send job acting as the user who sent it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.jobs.runner import InProcessRunner
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState, PaymentState
from g2p_payment_phee.programs.models import Cycle
from tests import factories
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice

WAIT = 60.0


def _payment_states(p: PheeProgram, cycle: Cycle) -> set[PaymentState]:
    return {pay.state for batch in p.batches(cycle) for pay in p.payments(batch)}


def test_a_sent_cycle_is_synced_by_the_sweep_alone(
    phee_program: PheeProgram, runner: InProcessRunner
) -> None:
    p = phee_program
    p.configure(max_batch_size=2)
    cycle = factories.approved_cycle(p.session, p.admin, p.approver, p.program, beneficiaries=4)
    service.prepare_cycle(p.session, p.admin, cycle)
    job = jobs.submit(p.session, p.approver, "send_cycle", {"cycle_id": str(cycle.id)})
    p.session.commit()
    assert runner.wait(job.id, WAIT)
    p.hub.complete_all()
    assert _payment_states(p, cycle) == {PaymentState.SENT}

    counts = runner.sweep_now()  # what the server's sweep thread does every G2P_SWEEP_SECONDS

    assert counts["syncing_cycles"] == 1
    assert runner.wait_idle(WAIT)
    p.session.expire_all()
    sync = p.session.scalars(select(Job).where(Job.kind == "sync_cycle")).one()
    assert (sync.state, sync.created_by) == (JobState.SUCCEEDED, "system")
    assert _payment_states(p, cycle) == {PaymentState.RECONCILED}
    assert {b.state for b in p.batches(cycle)} == {BatchState.COMPLETED}


def test_an_unknown_outcome_is_resolved_as_its_sender_once_quiet(
    phee_program: PheeProgram, runner: InProcessRunner
) -> None:
    p = phee_program
    cycle = factories.approved_cycle(p.session, p.admin, p.approver, p.program, beneficiaries=3)
    service.prepare_cycle(p.session, p.admin, cycle)
    p.hub.set_faults({"rules": [{"kind": "drop", "endpoints": ["upload"], "after_store": True}]})
    first = jobs.submit(p.session, p.approver, "send_cycle", {"cycle_id": str(cycle.id)})
    p.session.commit()
    assert runner.wait(first.id, WAIT)
    p.hub.clear_faults()
    (batch,) = p.batches(cycle)
    assert batch.state is BatchState.OUTCOME_UNKNOWN  # stored at the hub, answer lost

    assert runner.sweep_now()["resending"] == 0  # still within its quiet period
    p.session.execute(  # the quiet period passes
        update(PaymentBatch).values(last_attempt_at=utcnow() - timedelta(hours=1))
    )
    p.session.commit()
    assert runner.sweep_now()["resending"] == 1
    assert runner.wait_idle(WAIT)

    p.session.expire_all()
    resolving = p.session.scalars(
        select(Job).where(Job.kind == "send_cycle", Job.id != first.id)
    ).one()
    assert (resolving.state, resolving.created_by) == (JobState.SUCCEEDED, p.approver.username)
    (batch,) = p.batches(cycle)
    assert batch.state is BatchState.SUBMITTED  # found at the hub, not uploaded again
    report = assert_nobody_paid_twice(p.hub)
    assert sorted(v["accepted"] for v in report["request_ids"].values()) == [1, 1, 1]
