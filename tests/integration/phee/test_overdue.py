"""Payments sent long ago whose outcome PHEE has not given are reported, never guessed
(SPEC 3.4) by ``overdue_payments`` (the commands, the sweep, the API and the cycle page: their own
tests, ``test_overdue*.py`` and ``test_workflow.py``).

Batches are really sent to the emulator, whose transfers are held in progress; time passing is
``now`` moved forward, or (for the commands, which read the clock) a batch's acceptance moved
back.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from g2p_payment_phee.db import unit_of_work, utcnow
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.overdue import DEFAULT_OVERDUE_AFTER, overdue_payments
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_batches
from g2p_payment_phee.payments.reports import SendOutcome
from g2p_payment_phee.payments.states import BatchState, PaymentState, PaymentStatus
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.phee.conftest import PheeProgram

HOURS = timedelta(hours=1)


def sent_cycle(p: PheeProgram, newcomers: int, *, start: int = 0) -> Cycle:
    """A cycle of everyone enrolled (``newcomers`` more registrants from ``start``), prepared
    in batches of 2 and sent; PHEE holds every transfer in progress."""
    p.hub.set_outcomes({"delay_seconds": 3600})
    p.configure(max_batch_size=2)
    cycle = factories.approved_cycle(
        p.session, p.admin, p.approver, p.program, beneficiaries=newcomers, start=start
    )
    service.prepare_cycle(p.session, p.admin, cycle)
    p.session.commit()
    sent = service.send_cycle(p.factory, p.admin, cycle.id)
    assert sent.count(SendOutcome.SUBMITTED) == len(sent.results) > 0
    return cycle


def accepted_ago(p: PheeProgram, batch: PaymentBatch, hours: float) -> None:
    """As if PHEE had accepted the batch ``hours`` ago."""
    p.session.execute(
        update(PaymentBatch)
        .where(PaymentBatch.id == batch.id)
        .values(submitted_at=utcnow() - hours * HOURS)
    )
    p.session.commit()


def _states(p: PheeProgram, cycle: Cycle) -> list[tuple[object, ...]]:
    p.session.expire_all()
    query = select(Payment.id, Payment.state, Payment.status, Payment.amount_paid)
    return [tuple(r) for r in p.session.execute(query.where(Payment.cycle_id == cycle.id))]


def test_open_payments_are_reported_once_overdue_and_never_guessed(
    phee_program: PheeProgram,
) -> None:
    p = phee_program
    cycle = sent_cycle(p, 5)
    batches = p.batches(cycle)
    assert [b.issued_count for b in batches] == [2, 2, 1]
    synced = service.sync_cycle(p.factory, p.admin, cycle.id)
    assert synced.reconciled == 0
    before = _states(p, cycle)
    now = utcnow()

    assert overdue_payments(p.session, p.admin, cycle.id, now=now).payments == 0
    assert overdue_payments(p.session, p.admin, cycle.id, now=now + 47 * HOURS).payments == 0
    late = overdue_payments(p.session, p.admin, cycle.id, now=now + 49 * HOURS)
    assert (late.batches, late.payments, late.older_than) == (3, 5, DEFAULT_OVERDUE_AFTER)
    assert [b.name for b in late.listed] == [b.name for b in batches]  # oldest first
    assert [b.open for b in late.listed] == [2, 2, 1]
    assert [b.phee_batch_id for b in late.listed] == [b.phee_batch_id for b in batches]
    assert late.oldest == min(b.submitted_at for b in batches if b.submitted_at)
    assert late.describe().startswith("5 payments in 3 batches were sent more than 48 h ago")
    shorter = overdue_payments(p.session, None, cycle.id, older_than=HOURS, now=now + 2 * HOURS)
    assert shorter.payments == 5
    assert "more than 1 h ago" in shorter.describe()
    first = overdue_payments(p.session, p.admin, cycle.id, now=now + 49 * HOURS, listed=1)
    assert (first.batches, first.payments, len(first.listed)) == (3, 5, 1)

    # Reported, not guessed: a later sync still changes nothing; every payment stays sent.
    assert service.sync_cycle(p.factory, p.admin, cycle.id).reconciled == 0
    assert _states(p, cycle) == before
    assert {row[1] for row in before} == {PaymentState.SENT}


def test_final_payments_and_finished_batches_are_not_overdue(phee_program: PheeProgram) -> None:
    p = phee_program
    cycle = sent_cycle(p, 4)
    first, second = p.batches(cycle)
    one = p.payments(first)[0]
    outcome = Outcome(one.id, PaymentStatus.PAID, amount_paid=one.amount_issued)
    with unit_of_work(p.factory) as session:
        reconcile_batches(session, p.admin, [outcome], [first.id])
    later = utcnow() + 49 * HOURS
    partly = overdue_payments(p.session, p.admin, cycle.id, now=later)
    assert [(b.name, b.open) for b in partly.listed] == [(first.name, 1), (second.name, 2)]
    assert partly.payments == 3

    p.hub.complete_all()
    assert service.sync_cycle(p.factory, p.admin, cycle.id).reconciled == 3
    assert {b.state for b in p.batches(cycle)} == {BatchState.COMPLETED}
    assert overdue_payments(p.session, p.admin, cycle.id, now=later).payments == 0


def test_the_report_is_per_cycle_or_for_every_cycle(phee_program: PheeProgram) -> None:
    p = phee_program
    one = sent_cycle(p, 2)  # 2 payments in 1 batch
    other = sent_cycle(p, 1, start=2)  # the 3 people enrolled by then: batches of 2 and 1
    later = utcnow() + 49 * HOURS
    assert overdue_payments(p.session, p.admin, one.id, now=later).payments == 2
    assert overdue_payments(p.session, p.admin, other.id, now=later).payments == 3
    every = overdue_payments(p.session, p.admin, now=later)
    assert (every.batches, every.payments) == (3, 5)


def test_a_cut_off_that_is_not_positive_is_refused(session: Session, admin: User) -> None:
    with pytest.raises(ValueError, match="older_than must be positive"):
        overdue_payments(session, admin, older_than=timedelta(0))
