"""The sweep reports payments the hub accepted long ago and has not made final (SPEC 3.4): it
counts and logs them, and goes on asking for a sync; it never changes them."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from g2p_payment_phee.jobs import celery_app
from g2p_payment_phee.jobs import sweep as sweeping
from g2p_payment_phee.jobs.models import Job
from g2p_payment_phee.payments.states import PaymentState
from tests.integration.jobs.conftest import RecordingRunner
from tests.integration.phee.conftest import PheeProgram
from tests.integration.phee.test_overdue import accepted_ago, sent_cycle


@pytest.fixture(autouse=True)
def _fresh_sweeper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a beat process of its own: nothing was overdue at its last sweep."""
    monkeypatch.setattr(sweeping, "_overdue_seen", sweeping._OverdueSeen())


def _overdue_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "sent more than" in r.getMessage()]


def test_the_sweep_counts_and_logs_overdue_payments(
    phee_program: PheeProgram, recorder: RecordingRunner, caplog: pytest.LogCaptureFixture
) -> None:
    p = phee_program
    cycle = sent_cycle(p, 2)
    (batch,) = p.batches(cycle)
    with caplog.at_level(logging.WARNING, logger=sweeping.log.name):
        quiet = sweeping.sweep(p.factory, celery_app.CeleryRunner())
    assert quiet["overdue_payments"] == 0
    assert _overdue_warnings(caplog) == []

    accepted_ago(p, batch, 49)
    with caplog.at_level(logging.WARNING, logger=sweeping.log.name):
        counts = sweeping.sweep(p.factory, celery_app.CeleryRunner())
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


def test_the_overdue_warning_repeats_only_when_more_payments_are_overdue(
    phee_program: PheeProgram, recorder: RecordingRunner, caplog: pytest.LogCaptureFixture
) -> None:
    p = phee_program
    cycle = sent_cycle(p, 4)  # two batches of two
    first, second = p.batches(cycle)
    accepted_ago(p, first, 49)

    def sweep() -> tuple[int, list[str], list[str]]:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=sweeping.log.name):
            counts = sweeping.sweep(p.factory, celery_app.CeleryRunner())
        said = [r for r in caplog.records if "sent more than" in r.getMessage()]
        warned = [r.getMessage() for r in said if r.levelno == logging.WARNING]
        told = [r.getMessage() for r in said if r.levelno == logging.INFO]
        return counts["overdue_payments"], warned, told

    overdue, warned, told = sweep()
    assert (overdue, len(warned), told) == (2, 1, [])
    assert warned[0].startswith("2 payments in 1 batch")

    overdue, warned, told = sweep()  # the same news: said, not warned
    assert (overdue, warned, len(told)) == (2, [], 1)
    assert told[0].startswith("2 payments in 1 batch")

    accepted_ago(p, second, 50)  # more are overdue now: a warning again
    overdue, warned, told = sweep()
    assert (overdue, len(warned), told) == (4, 1, [])
    assert warned[0].startswith("4 payments in 2 batches")
