"""The cycle totals (API cycle answer, ``g2p-phee status``, the demo) come from the batch
counters; they must equal what grouping the cycle's payments says, in every mix of states:
unsent, sent and open, partly paid (paid for another amount than issued), partly failed,
completed, and payments in no batch."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.overview import cycle_payment_totals
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_batches
from g2p_payment_phee.payments.reports import SendOutcome
from g2p_payment_phee.payments.states import BatchState, PaymentStatus
from g2p_payment_phee.programs.models import Cycle
from tests import factories
from tests.integration.phee.conftest import PheeProgram


def _grouped(p: PheeProgram, cycle: Cycle) -> dict[str, tuple[int, Decimal]]:
    """The oracle: the cycle's payments grouped by state (amount paid for the paid ones)."""
    p.session.expire_all()
    rows = p.session.execute(
        select(
            Payment.state,
            Payment.status,
            func.count(),
            func.sum(Payment.amount_issued),
            func.sum(Payment.amount_paid),
        )
        .where(Payment.cycle_id == cycle.id)
        .group_by(Payment.state, Payment.status)
    ).tuples()
    out: dict[str, tuple[int, Decimal]] = {}
    for state, status, count, issued, paid in rows:
        key = status.value if status is not None else state.value
        out[key] = (int(count), Decimal((paid if key == "paid" else issued) or 0))
    return out


def test_totals_from_counters_equal_the_payments_grouped(phee_program: PheeProgram) -> None:
    p = phee_program
    p.hub.set_outcomes({"delay_seconds": 3600})  # what is sent stays open at the hub
    p.configure(max_batch_size=2)
    cycle = p.prepared_cycle(7, amount="100")
    sent = service.send_cycle(p.factory, p.admin, cycle.id, [b.id for b in p.batches(cycle)[:3]])
    assert sent.count(SendOutcome.SUBMITTED) == 3
    _, second, third, unsent = p.batches(cycle)
    paid_one, _open = p.payments(second)
    failed_one, _ = p.payments(third)
    with unit_of_work(p.factory) as session:
        outcomes = [
            Outcome(paid_one.id, PaymentStatus.PAID, amount_paid=Decimal("99.50")),
            Outcome(failed_one.id, PaymentStatus.FAILED, reason="Payee account closed"),
        ]
        reconcile_batches(session, p.admin, outcomes, [second.id, third.id])
    totals = cycle_payment_totals(p.session, cycle)
    assert totals.payments == _grouped(p, cycle)
    assert totals.payments == {
        "issued": (1, Decimal(100)),
        "sent": (4, Decimal(400)),
        "paid": (1, Decimal("99.50")),
        "failed": (1, Decimal(100)),
    }
    assert totals.batches == {BatchState.SUBMITTED: 3, BatchState.PREPARED: 1}
    assert unsent.state is BatchState.PREPARED

    p.hub.complete_all()
    service.sync_cycle(p.factory, p.admin, cycle.id)
    totals = cycle_payment_totals(p.session, cycle)
    assert totals.payments == _grouped(p, cycle)
    assert set(totals.payments) == {"issued", "paid", "failed"}
    assert totals.batches == {BatchState.COMPLETED: 3, BatchState.PREPARED: 1}


def test_payments_in_no_batch_are_counted_too(phee_program: PheeProgram) -> None:
    p = phee_program
    p.configure(create_batch=False)
    cycle = factories.approved_cycle(
        p.session, p.admin, p.approver, p.program, beneficiaries=3, amount="250"
    )
    service.prepare_cycle(p.session, p.admin, cycle)
    p.session.commit()
    totals = cycle_payment_totals(p.session, cycle)
    assert totals.batches == {}
    assert totals.payments == {"issued": (3, Decimal(750))} == _grouped(p, cycle)
