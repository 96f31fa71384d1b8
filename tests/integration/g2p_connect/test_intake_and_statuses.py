"""Into the domain and back: auto-approval pays through the program's manager; each record's
status follows its payment (rcvd → pdng → succ | rjct, with the documented codes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.g2p_connect.models import G2PConnectSender, G2PConnectTransaction
from g2p_payment_phee.g2p_connect.status import record_statuses
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.programs.models import Cycle, Program
from g2p_payment_phee.programs.states import CycleState
from g2p_payment_phee.users.models import Role, User
from tests.integration.g2p_connect.conftest import Mis, make_program, record, register


def _auto_mis(client: TestClient, session: Session, admin: User, program: Program) -> Mis:
    _, secret = register(session, admin, program, "auto-mis", auto_approve=True)
    return Mis(client, "auto-mis", secret)


def test_an_auto_approving_sender_s_cycle_is_approved_prepared_and_sent(
    client: TestClient, session: Session, admin: User, program: Program
) -> None:
    mis = _auto_mis(client, session, admin, program)
    records = [record(f"R{i}", payee=f"mobile:+25470000000{i}") for i in range(3)]
    assert mis.disburse("T-auto", records).json()["message"]["ack_status"] == "ACK"
    mis.wait_for_jobs()
    session.expire_all()
    sender = session.scalar(
        select(G2PConnectSender).where(G2PConnectSender.sender_id == "auto-mis")
    )
    assert sender is not None
    service_user = session.get(User, sender.service_user_id)
    assert service_user is not None
    assert service_user.role is Role.ADMIN
    txn = session.scalar(select(G2PConnectTransaction))
    assert txn is not None
    assert txn.intake_error is None
    cycle = session.get(Cycle, txn.cycle_id)
    assert cycle is not None
    assert cycle.state is CycleState.APPROVED
    assert cycle.approved_by_id == service_user.id
    payments = session.scalars(select(Payment).where(Payment.cycle_id == cycle.id)).all()
    assert len(payments) == 3
    assert {p.payee_id_value for p in payments} == {f"+25470000000{i}" for i in range(3)}


def test_statuses_follow_the_payments(
    client: TestClient, session: Session, admin: User, program: Program
) -> None:
    mis = _auto_mis(client, session, admin, program)
    records = [record(f"R{i}", payee=f"mobile:+25470000000{i}", amount="10.50") for i in range(4)]
    mis.disburse("T-1", records)
    mis.wait_for_jobs()
    session.expire_all()
    txn = session.scalar(select(G2PConnectTransaction))
    assert txn is not None
    by_payee = {p.payee_id_value: p for p in session.scalars(select(Payment))}
    settled = utcnow() - timedelta(minutes=5)
    _settle(session, by_payee["+254700000000"], paid=True, when=settled)
    _settle(session, by_payee["+254700000001"], reason="Payee Identifier not found")
    _settle(session, by_payee["+254700000002"], reason="Payee FSP rejected the transfer")
    session.execute(
        update(Payment)
        .where(Payment.id == by_payee["+254700000003"].id)
        .values(state=PaymentState.SENT, sent_at=settled)
    )
    session.commit()
    found = {s.reference_id: s for s in record_statuses(session, txn.id)}
    assert found["R0"].status == "succ"
    assert found["R0"].amount == "10.50"
    assert found["R0"].timestamp == settled
    assert (found["R1"].status, found["R1"].reason_code) == ("rjct", "rjct.payee_fa.invalid")
    assert found["R1"].reason_message == "Payee Identifier not found"
    assert (found["R2"].status, found["R2"].reason_code) == ("rjct", "rjct.payment.failed")
    assert found["R3"].status == "pdng"
    wire = found["R2"].as_wire()
    assert wire["status_reason_message"] == "Payee FSP rejected the transfer"
    assert wire["timestamp"].endswith("Z")


def _settle(
    session: Session,
    payment: Payment,
    *,
    paid: bool = False,
    reason: str = "",
    when: datetime | None = None,
) -> None:
    values: dict[str, object] = {
        "state": PaymentState.RECONCILED,
        "status": PaymentStatus.PAID if paid else PaymentStatus.FAILED,
        "settled_at": when or utcnow(),
        "live": paid,
    }
    if paid:
        values["amount_paid"] = Decimal("10.5")
    else:
        values["failure_reason"] = reason
    session.execute(update(Payment).where(Payment.id == payment.id).values(**values))


def test_a_budget_that_refuses_the_approval_leaves_the_cycle_for_people(
    client: TestClient, session: Session, admin: User
) -> None:
    program = make_program(session, admin, name="Small budget")
    program.budget = Decimal("50")
    session.commit()
    mis = _auto_mis(client, session, admin, program)
    mis.disburse("T-big", [record("R1", amount="100.00")])
    mis.wait_for_jobs()
    session.expire_all()
    txn = session.scalar(select(G2PConnectTransaction))
    assert txn is not None
    assert txn.intake_error is not None
    assert "budget" in txn.intake_error
    cycle = session.get(Cycle, txn.cycle_id)
    assert cycle is not None
    assert cycle.state is CycleState.TO_APPROVE
    [status] = record_statuses(session, txn.id)
    assert status.status == "rcvd"


def test_an_approver_rejecting_an_entitlement_rejects_its_record(
    mis: Mis, session: Session, admin: User
) -> None:
    from g2p_payment_phee.programs.models import Entitlement
    from g2p_payment_phee.programs.service import reject_entitlement

    mis.disburse("T-1", [record("R1")])
    mis.wait_for_jobs()
    session.expire_all()
    txn = session.scalar(select(G2PConnectTransaction))
    assert txn is not None
    cycle = session.get(Cycle, txn.cycle_id)
    entitlement = session.scalar(select(Entitlement))
    assert cycle is not None
    assert entitlement is not None
    reject_entitlement(session, admin, cycle, entitlement.code, "not eligible")
    session.commit()
    [status] = record_statuses(session, txn.id)
    assert (status.status, status.reason_code) == ("rjct", "rjct.entitlement.rejected")
