"""The sweep reports payments the hub accepted long ago and has not made final (SPEC 3.4): it
counts and logs them, and goes on asking for a sync; it never changes them."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from g2p_payment_phee.jobs import celery_app
from g2p_payment_phee.jobs.models import Job
from g2p_payment_phee.payments.states import PaymentState
from tests.integration.jobs.conftest import RecordingRunner
from tests.integration.phee.conftest import PheeProgram
from tests.integration.phee.test_overdue import accepted_ago, sent_cycle


def _overdue_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "sent more than" in r.getMessage()]


def test_the_sweep_counts_and_logs_overdue_payments(
    phee_program: PheeProgram, recorder: RecordingRunner, caplog: pytest.LogCaptureFixture
) -> None:
    p = phee_program
    cycle = sent_cycle(p, 2)
    (batch,) = p.batches(cycle)
    with caplog.at_level(logging.WARNING, logger=celery_app.log.name):
        quiet = celery_app.sweep(p.factory, celery_app.CeleryRunner())
    assert quiet["overdue_payments"] == 0
    assert _overdue_warnings(caplog) == []

    accepted_ago(p, batch, 49)
    with caplog.at_level(logging.WARNING, logger=celery_app.log.name):
        counts = celery_app.sweep(p.factory, celery_app.CeleryRunner())
    assert counts["overdue_payments"] == 2
    (warning,) = _overdue_warnings(caplog)
    assert warning.startswith("2 payments in 1 batch were sent more than 48 h ago")
    assert batch.name in warning
    # It goes on asking PHEE (one sync job of the cycle, joined by the second sweep) and
    # guesses nothing.
    p.session.expire_all()
    jobs = p.session.scalars(select(Job).where(Job.kind == "sync_cycle")).all()
    assert [job.params for job in jobs] == [{"cycle_id": str(cycle.id)}]
    assert recorder.dispatched == [jobs[0].id]
    assert {payment.state for payment in p.payments(batch)} == {PaymentState.SENT}
