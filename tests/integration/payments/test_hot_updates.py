"""On PostgreSQL a payment's two updates in life (sent, then reconciled) are HOT updates: the new
row version stays on the row's page and no index is written. That holds only while no indexed
column changes and the new versions fit on the rows' pages: migration 0006 fills a third of each
page, so the sent versions fit beside the issued ones, and the wider reconciled versions fit
once the dead issued versions are pruned (which reading the page does). Counted per
transaction, as the send and the sync write them."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_batches
from g2p_payment_phee.payments.states import PaymentStatus, mark_payments_sent
from g2p_payment_phee.programs.models import Program
from g2p_payment_phee.users.models import User
from tests import factories

COUNTS = (
    "SELECT pg_stat_get_xact_tuples_updated('payments'::regclass), "
    "pg_stat_get_xact_tuples_hot_updated('payments'::regclass)"
)


def _counts(session: Session) -> tuple[int, int]:
    """Rows of payments updated, and of them HOT, as this backend counted them so far (its
    statistics not reported yet: they may include a transaction committed just before)."""
    updated, hot = session.execute(text(COUNTS)).one()
    return int(updated), int(hot)


def _less(after: tuple[int, int], before: tuple[int, int]) -> tuple[int, int]:
    return after[0] - before[0], after[1] - before[1]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])  # HOT updates and fillfactor are PostgreSQL's
def test_sent_and_reconciled_payments_stay_on_their_pages(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    phee(max_batch_size=500)
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=600)
    service.prepare_cycle(session, admin, cycle)
    session.commit()
    batch_ids = list(
        session.scalars(select(PaymentBatch.id).where(PaymentBatch.cycle_id == cycle.id))
    )
    rows = session.execute(select(Payment.id, Payment.amount_issued)).tuples().all()

    before = _counts(session)
    assert mark_payments_sent(session, batch_ids) == 600
    sent = _counts(session)
    session.commit()
    outcomes = [
        Outcome(pid, PaymentStatus.PAID, Decimal(amount), transaction_id=str(uuid.uuid4()))
        if index % 10
        else Outcome(pid, PaymentStatus.FAILED, reason="Payee account closed")
        for index, (pid, amount) in enumerate(rows)
    ]
    synced = _counts(session)
    changed, _ = reconcile_batches(session, admin, outcomes, batch_ids)
    reconciled = _counts(session)

    assert changed == 600
    assert _less(sent, before) == (600, 600)
    # A failed payment's reconciliation changes ``live``, which the live-payment index reads:
    # it writes index entries, as it must. Every other update is HOT.
    failed = sum(1 for o in outcomes if o.status is PaymentStatus.FAILED)
    assert _less(reconciled, synced) == (600, 600 - failed)
