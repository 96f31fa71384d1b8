"""Adding payments issued without a batch to batches: the batches prepare would have made,
the byte and size limits, refused twice, safe when two runs race, bad input."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.audit import AuditAction, AuditEvent
from g2p_payment_phee.errors import BusinessRuleViolation, ValidationFailed
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.batching import waiting_count
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.phee.csvfile import HEADER
from g2p_payment_phee.programs.models import Cycle, Program
from g2p_payment_phee.users.models import User
from tests import factories


def _batches(session: Session, cycle: Cycle) -> list[PaymentBatch]:
    session.expire_all()
    query = select(PaymentBatch).where(PaymentBatch.cycle_id == cycle.id)
    return list(session.scalars(query.order_by(PaymentBatch.sequence)))


def _unbatched_cycle(
    session: Session, admin: User, approver: User, program: Program, phee, count: int
) -> Cycle:
    phee(create_batch=False, max_batch_size=3)
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=count)
    report = service.prepare_cycle(session, admin, cycle)
    assert (report.created, report.batches) == (count, 0)
    return cycle


def test_waiting_payments_become_the_batches_prepare_would_have_made(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = _unbatched_cycle(session, admin, approver, program, phee, 7)
    assert waiting_count(session, cycle) == 7
    report = service.add_to_batches(session, admin, cycle)
    assert (report.batched, len(report.batches)) == (7, 3)
    assert report.amounts == {"KES": Decimal(700)}
    batches = _batches(session, cycle)
    assert [(b.sequence, b.issued_count, b.state) for b in batches] == [
        (1, 3, BatchState.PREPARED),
        (2, 3, BatchState.PREPARED),
        (3, 1, BatchState.PREPARED),
    ]
    assert [b.name for b in batches] == report.batches
    payments = list(session.scalars(select(Payment).order_by(Payment.id)))
    places = [(p.batch_id, p.batch_row) for p in payments]
    assert places == [(b.id, row) for b in batches for row in range(b.issued_count)]
    for batch in batches:  # each file holds its payments in row order, with the PHEE header
        lines = service.batch_file(session, admin, batch).data.decode().split("\n")
        ids = [p.id for p in payments if p.batch_id == batch.id]
        assert lines[0] == HEADER
        assert [line.split(",")[1] for line in lines[1:]] == [str(i) for i in ids]
        assert batch.callback_token_hash  # PHEE calls back for these batches too
    assert waiting_count(session, cycle) == 0
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.PAYMENTS_BATCHED)
    ).one()
    assert (event.data["batched"], event.data["batches"]) == (7, 3)


def test_max_size_and_the_file_byte_limit_split_batches(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = _unbatched_cycle(session, admin, approver, program, phee, 5)
    report = service.add_to_batches(session, admin, cycle, max_size=2)
    assert [b.issued_count for b in _batches(session, cycle)] == [2, 2, 1]
    assert report.batched == 5

    other = factories.approved_cycle(session, admin, approver, program, beneficiaries=4, start=10)
    service.prepare_cycle(session, admin, other)
    line = len(service.batch_file(session, admin, _batches(session, cycle)[2]).data)
    phee(max_file_bytes=max(1000, line + 1))  # room for the header and about one line
    service.add_to_batches(session, admin, other, max_size=100)
    made = _batches(session, other)
    assert len(made) >= 2  # nine payments do not fit in one file of that size
    assert max(b.csv_size or 0 for b in made) <= max(1000, line + 1)
    assert sum(b.issued_count for b in made) == waiting_count(session, cycle) + 9


def test_a_second_run_is_refused_and_writes_nothing(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = _unbatched_cycle(session, admin, approver, program, phee, 4)
    service.add_to_batches(session, admin, cycle)
    before = len(_batches(session, cycle))
    with pytest.raises(BusinessRuleViolation, match="no payment waiting for a batch"):
        service.add_to_batches(session, admin, cycle)
    assert len(_batches(session, cycle)) == before


def test_bad_input_is_refused(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = _unbatched_cycle(session, admin, approver, program, phee, 2)
    with pytest.raises(ValidationFailed) as refused:
        service.add_to_batches(session, admin, cycle, max_size=0)
    assert refused.value.errors[0].field == "max_size"
    draft = factories.cycle_with_entitlements(session, admin, program, beneficiaries=1)
    with pytest.raises(BusinessRuleViolation, match="only an approved cycle"):
        service.add_to_batches(session, admin, draft)
    phee(payee_id_type="email")  # the payments went out to phones
    with pytest.raises(BusinessRuleViolation, match="issued to a 'MSISDN' payee"):
        service.add_to_batches(session, admin, cycle)
    assert waiting_count(session, cycle) == 2
    assert session.scalar(select(func.count()).select_from(PaymentBatch)) == 0


def test_two_runs_at_once_batch_each_payment_once(
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    approver: User,
    program: Program,
    phee,
) -> None:
    cycle = _unbatched_cycle(session, admin, approver, program, phee, 9)
    session.commit()
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        with session_factory() as mine:
            actor = mine.get_one(User, admin.id)
            found = mine.get_one(Cycle, cycle.id)
            start.wait()
            try:
                report = service.add_to_batches(mine, actor, found)
                mine.commit()
                outcomes.append(f"batched {report.batched}")
            except BusinessRuleViolation:
                mine.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["batched 9", "refused"]
    batches = _batches(session, cycle)
    assert [b.sequence for b in batches] == [1, 2, 3]
    assert sum(b.issued_count for b in batches) == 9
    assert waiting_count(session, cycle) == 0
