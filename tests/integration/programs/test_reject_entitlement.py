"""An approver rejects one pending entitlement, saying why; the cycle goes on without it: its
approval approves the others, the budget no longer counts it, prepare never pays it. And the
entitlement totals an approval writes on its cycle."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.audit import events_for
from g2p_payment_phee.errors import (
    BusinessRuleViolation,
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from g2p_payment_phee.payments.prepare import payable_count
from g2p_payment_phee.programs import service
from g2p_payment_phee.programs.models import Cycle, Entitlement
from g2p_payment_phee.programs.states import CycleState, EntitlementState, move_entitlements
from g2p_payment_phee.users.models import User
from tests import factories


def _codes(session: Session, cycle: Cycle) -> list[str]:
    query = select(Entitlement.code).where(Entitlement.cycle_id == cycle.id)
    return sorted(session.scalars(query.order_by(Entitlement.code)))


def test_a_rejected_entitlement_is_left_out_of_the_approval(
    session: Session, manager: User, approver: User
) -> None:
    cycle = factories.pending_cycle(session, manager, beneficiaries=3)
    code = _codes(session, cycle)[0]
    rejected = service.reject_entitlement(session, approver, cycle, code, " duplicate person ")
    assert rejected.state is EntitlementState.REJECTED
    (event,) = [e for e in events_for(session, rejected) if e.action == "entitlement.rejected"]
    assert event.data == {
        "from": "pending_validation",
        "to": "rejected",
        "reason": "duplicate person",
    }
    assert service.approve_cycle(session, approver, cycle) == 2
    totals = service.cycle_totals(session, cycle)
    assert totals.counts == {EntitlementState.APPROVED: 2, EntitlementState.REJECTED: 1}
    assert payable_count(session, cycle) == 2


def test_the_budget_no_longer_counts_a_rejected_entitlement(
    session: Session, manager: User, approver: User
) -> None:
    cycle = factories.pending_cycle(
        session, manager, beneficiaries=3, budget="250"
    )  # 3 x 100 would be over
    with pytest.raises(BusinessRuleViolation, match="over the program budget"):
        service.approve_cycle(session, approver, cycle)
    service.reject_entitlement(session, approver, cycle, _codes(session, cycle)[0], "moved away")
    assert service.approve_cycle(session, approver, cycle) == 2


def test_rejections_that_cannot_be(
    session: Session, manager: User, approver: User, viewer: User
) -> None:
    cycle = factories.pending_cycle(session, manager, beneficiaries=2)
    first, second = _codes(session, cycle)
    with pytest.raises(ValidationFailed, match="say why"):
        service.reject_entitlement(session, approver, cycle, first, "  ")
    with pytest.raises(PermissionDenied):
        service.reject_entitlement(session, viewer, cycle, first, "no")
    other = factories.pending_cycle(session, manager, beneficiaries=1, name="Other")
    with pytest.raises(NotFound, match=f"no entitlement '{first}' in cycle"):
        service.reject_entitlement(session, approver, other, first, "wrong cycle")
    service.reject_entitlement(session, approver, cycle, first, "once")
    with pytest.raises(InvalidTransition, match="entitlement is rejected, a final state"):
        service.reject_entitlement(session, approver, cycle, first, "twice")
    service.approve_cycle(session, approver, cycle)
    with pytest.raises(BusinessRuleViolation, match="while their cycle waits for approval"):
        service.reject_entitlement(session, approver, cycle, second, "too late")
    assert cycle.state is CycleState.APPROVED


def test_a_rejection_racing_the_approval_is_refused(
    session_factory: sessionmaker[Session], session: Session, manager: User, approver: User
) -> None:
    cycle = factories.pending_cycle(session, manager, beneficiaries=2)
    code = _codes(session, cycle)[0]
    session.commit()
    with session_factory() as other:
        stale_cycle = other.get_one(Cycle, cycle.id)
        stale = other.scalars(select(Entitlement).where(Entitlement.code == code)).one()
        assert stale.state is EntitlementState.PENDING_VALIDATION  # read before the approval
        service.approve_cycle(session, approver, cycle)
        session.commit()
        with pytest.raises(Conflict, match="changed by someone else"):
            service.reject_entitlement(other, approver, stale_cycle, code, "too late")
    session.expire_all()
    assert session.scalars(select(Entitlement.state).where(Entitlement.code == code)).one() is (
        EntitlementState.APPROVED
    )


def test_the_totals_are_written_at_approval_and_dropped_by_a_later_move(
    session: Session, manager: User, approver: User
) -> None:
    cycle = factories.pending_cycle(session, manager, beneficiaries=3)
    assert cycle.entitlement_totals is None
    service.reject_entitlement(session, approver, cycle, _codes(session, cycle)[0], "twice")
    service.approve_cycle(session, approver, cycle)
    assert cycle.entitlement_totals is not None
    assert {k: v[0] for k, v in cycle.entitlement_totals.items()} == {"approved": 2, "rejected": 1}
    written = service.cycle_totals(session, cycle)
    assert written == service.count_entitlements(session, cycle)
    assert written.amounts[EntitlementState.APPROVED] == 200
    # Nothing moves approved entitlements today; if something ever does, the written totals
    # stop being used until the next approval.
    move_entitlements(session, approver, cycle, EntitlementState.APPROVED, EntitlementState.EXPIRED)
    assert cycle.entitlement_totals is None
    assert service.cycle_totals(session, cycle).counts == {
        EntitlementState.EXPIRED: 2,
        EntitlementState.REJECTED: 1,
    }
