"""The receiving API against the reference: tokens, acks, records into the domain, statuses."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.g2p_connect.models import G2PConnectRecord, G2PConnectTransaction
from g2p_payment_phee.programs.models import Cycle, Entitlement
from g2p_payment_phee.programs.states import CycleState, EntitlementState
from g2p_payment_phee.registry.models import Phone
from tests.integration.g2p_connect.conftest import Mis, record


def test_a_disburse_is_acked_and_becomes_a_cycle_waiting_for_approval(
    mis: Mis, session: Session
) -> None:
    answer = mis.disburse(
        "T-1", [record("R1"), record("R2", payee="phone:+254700000002", amount="250.0")]
    )
    assert answer.status_code == 200, answer.text
    ack = answer.json()["message"]
    assert ack["ack_status"] == "ACK"
    assert ack["correlation_id"]
    assert ack["timestamp"].endswith("Z")
    mis.wait_for_jobs()
    session.expire_all()
    txn = session.scalar(select(G2PConnectTransaction))
    assert txn is not None
    assert txn.cycle_id is not None
    cycle = session.get(Cycle, txn.cycle_id)
    assert cycle is not None
    assert cycle.name == "G2P Connect T-1"
    assert cycle.state is CycleState.TO_APPROVE
    amounts = session.scalars(
        select(Entitlement.initial_amount).where(Entitlement.cycle_id == cycle.id)
    ).all()
    assert sorted(str(a) for a in amounts) == ["100.0000", "250.0000"]
    assert set(session.scalars(select(Entitlement.state))) == {EntitlementState.PENDING_VALIDATION}
    assert set(session.scalars(select(Phone.number))) == {"+254700000001", "+254700000002"}
    linked = session.scalar(
        select(func.count()).where(G2PConnectRecord.entitlement_id.is_not(None))
    )
    assert linked == 2
