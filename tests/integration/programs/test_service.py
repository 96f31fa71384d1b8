"""Programs, enrolment, cycles and the maker–checker approval workflow, on both databases."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditEvent, events_for
from g2p_payment_phee.errors import (
    BusinessRuleViolation,
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from g2p_payment_phee.programs import service
from g2p_payment_phee.programs.models import Entitlement, TargetType
from g2p_payment_phee.programs.states import CycleState, EntitlementState
from g2p_payment_phee.registry.models import RegistrantKind
from g2p_payment_phee.users.models import User
from tests import factories


def _states(session: Session, cycle_id: object) -> dict[EntitlementState, int]:
    rows = (
        session.execute(
            select(Entitlement.state, func.count())
            .where(Entitlement.cycle_id == cycle_id)
            .group_by(Entitlement.state)
        )
        .tuples()
        .all()
    )
    return dict(rows)


def test_program_needs_a_real_currency_and_a_unique_name(session: Session, manager: User) -> None:
    program = factories.program(session, manager)
    assert (program.currency, program.state) == ("KES", "active")
    with pytest.raises(Conflict, match="already exists"):
        factories.program(session, manager)
    with pytest.raises(ValidationFailed, match="not an ISO 4217"):
        service.create_program(session, manager, name="Other", currency="XXQ")
    with pytest.raises(ValidationFailed, match=r"amount must be ≥ 0"):
        service.create_program(session, manager, name="Other", currency="KES", budget="-5")
    with pytest.raises(ValidationFailed, match="more than 2 decimals for KES"):
        service.create_program(session, manager, name="Other", currency="KES", budget="10.005")
    with pytest.raises(ValidationFailed, match="more than 0 decimals for JPY"):
        service.create_program(session, manager, name="Other", currency="JPY", budget="100.5")
    yen = service.create_program(session, manager, name="Yen", currency="JPY", budget="1000")
    assert yen.budget == 1000


def test_viewer_and_approver_cannot_create_programs(
    session: Session, viewer: User, approver: User
) -> None:
    for user in (viewer, approver):
        with pytest.raises(PermissionDenied, match="may not manage programs"):
            factories.program(session, user)


def test_enrolment_takes_the_target_type_and_never_enrols_twice(
    session: Session, manager: User
) -> None:
    for ref in ("P1", "P2"):
        factories.registrant(session, ref)
    factories.registrant(session, "H1", RegistrantKind.GROUP)
    program = factories.program(session, manager)
    assert service.enrol(session, manager, program, ["P1"]) == 1
    assert service.enrol(session, manager, program) == 1  # P2 only: P1 is in, H1 is a group
    assert service.enrol(session, manager, program) == 0
    assert service.enrolled_count(session, program) == 2
    with pytest.raises(ValidationFailed, match="pays individuals"):
        service.enrol(session, manager, program, ["H1"])
    with pytest.raises(NotFound, match="NOPE"):
        service.enrol(session, manager, program, ["NOPE"])


def test_cycle_rules_dates_names_and_sequence(session: Session, manager: User) -> None:
    program = factories.program(session, manager)
    first = service.create_cycle(
        session, manager, program, name="Jan", start=date(2027, 1, 1), end=date(2027, 1, 31)
    )
    second = service.create_cycle(
        session, manager, program, name="Feb", start=date(2027, 2, 1), end=date(2027, 2, 28)
    )
    assert (first.sequence, second.sequence, first.state) == (1, 2, CycleState.DRAFT)
    with pytest.raises(ValidationFailed, match=r"ends .* before it starts"):
        service.create_cycle(
            session, manager, program, name="Bad", start=date(2027, 3, 2), end=date(2027, 3, 1)
        )
    with pytest.raises(Conflict, match="already has a cycle named 'Jan'"):
        service.create_cycle(
            session, manager, program, name="Jan", start=date(2027, 1, 1), end=date(2027, 1, 2)
        )


def test_fixed_entitlements_for_every_enrolled_beneficiary_once(
    session: Session, manager: User
) -> None:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=25)
    assert _states(session, cycle.id) == {EntitlementState.DRAFT: 25}
    assert service.add_fixed_entitlements(session, manager, cycle, amount="100") == 0
    amounts = set(session.scalars(select(Entitlement.initial_amount)))
    assert amounts == {Decimal("100")}
    codes = set(session.scalars(select(Entitlement.code)))
    assert len(codes) == 25


@pytest.mark.parametrize(
    ("amount", "message"),
    [("0", "must be > 0"), ("-3", "must be > 0"), ("abc", "not a number"), ("1.005", "decimals")],
)
def test_bad_fixed_amounts_are_refused(
    session: Session, manager: User, amount: str, message: str
) -> None:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=1)
    with pytest.raises(ValidationFailed, match=message):
        service.add_fixed_entitlements(session, manager, cycle, amount=amount)


def test_maker_checker_approval(
    session: Session, manager: User, approver: User, admin: User
) -> None:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=3)
    with pytest.raises(PermissionDenied, match="may not approve"):
        service.approve_cycle(session, manager, cycle)
    assert service.submit_cycle(session, admin, cycle) == 3
    assert _states(session, cycle.id) == {EntitlementState.PENDING_VALIDATION: 3}
    with pytest.raises(BusinessRuleViolation, match="maker–checker"):
        service.approve_cycle(session, admin, cycle)
    assert cycle.state is CycleState.TO_APPROVE
    assert service.approve_cycle(session, approver, cycle) == 3
    assert (cycle.state, cycle.approved_by_id) == (CycleState.APPROVED, approver.id)
    assert _states(session, cycle.id) == {EntitlementState.APPROVED: 3}
    actions = [e.action for e in events_for(session, cycle)]
    assert actions[-4:] == [
        "cycle.to_approve",
        "entitlements.pending_validation",
        "cycle.approved",
        "entitlements.approved",
    ]


def test_maker_checker_can_be_switched_off_per_program(session: Session, admin: User) -> None:
    program = factories.program(session, admin, maker_checker=False)
    cycle = factories.cycle_with_entitlements(session, admin, program, beneficiaries=2)
    service.submit_cycle(session, admin, cycle)
    assert service.approve_cycle(session, admin, cycle) == 2


def test_budget_refuses_an_approval_that_would_exceed_it(
    session: Session, manager: User, approver: User
) -> None:
    program = factories.program(session, manager, budget="250")
    first = factories.cycle_with_entitlements(session, manager, program, beneficiaries=2)
    service.submit_cycle(session, manager, first)
    service.approve_cycle(session, approver, first)  # 200 of 250
    second = factories.cycle_with_entitlements(session, manager, program, beneficiaries=0)
    service.add_fixed_entitlements(session, manager, second, amount="100")
    service.submit_cycle(session, manager, second)
    with pytest.raises(BusinessRuleViolation, match=r"over the program budget of 250.* by 150"):
        service.approve_cycle(session, approver, second)
    assert second.state is CycleState.TO_APPROVE
    assert _states(session, second.id) == {EntitlementState.PENDING_VALIDATION: 2}


def test_disallowed_transitions_are_named(session: Session, manager: User, approver: User) -> None:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=1)
    with pytest.raises(InvalidTransition, match="cannot go from draft to approved"):
        service.approve_cycle(session, approver, cycle)
    service.cancel_cycle(session, manager, cycle, "wrong month")
    with pytest.raises(InvalidTransition, match="final state"):
        service.submit_cycle(session, manager, cycle)
    assert _states(session, cycle.id) == {EntitlementState.CANCELLED: 1}


def test_empty_cycle_cannot_be_submitted(session: Session, manager: User) -> None:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=0)
    with pytest.raises(BusinessRuleViolation, match="no draft entitlements"):
        service.submit_cycle(session, manager, cycle)


def test_returned_cycle_goes_back_to_draft_with_its_entitlements(
    session: Session, manager: User, approver: User
) -> None:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=2)
    service.submit_cycle(session, manager, cycle)
    with pytest.raises(ValidationFailed, match="say why"):
        service.return_cycle_to_draft(session, approver, cycle, " ")
    service.return_cycle_to_draft(session, approver, cycle, "amounts wrong")
    assert cycle.state is CycleState.DRAFT
    assert _states(session, cycle.id) == {EntitlementState.DRAFT: 2}


def test_entitlements_are_only_added_to_draft_cycles(
    session: Session, manager: User, approver: User
) -> None:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=1)
    service.submit_cycle(session, manager, cycle)
    with pytest.raises(BusinessRuleViolation, match="while a cycle is draft"):
        service.add_fixed_entitlements(session, manager, cycle, amount="5")


def test_concurrent_state_change_is_detected(
    session_factory: object, session: Session, manager: User, approver: User
) -> None:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=1)
    service.submit_cycle(session, manager, cycle)
    session.commit()
    from sqlalchemy.orm import sessionmaker

    assert isinstance(session_factory, sessionmaker)
    with session_factory() as other:
        stale = service.get_cycle(other, str(cycle.id))
        service.approve_cycle(session, approver, cycle)
        session.commit()
        with pytest.raises(Conflict, match="changed by someone else"):
            service.return_cycle_to_draft(other, approver, stale, "too late")


def test_group_programs_enrol_groups(session: Session, manager: User) -> None:
    factories.registrant(session, "H1", RegistrantKind.GROUP)
    factories.registrant(session, "P1")
    program = factories.program(session, manager, name="Households", target_type=TargetType.GROUP)
    assert service.enrol(session, manager, program) == 1
    assert (session.scalar(select(func.count()).select_from(AuditEvent)) or 0) >= 2
