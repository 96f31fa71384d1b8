"""Every state change has its audit action, and actions are named ``<subject>.<event>``."""

from __future__ import annotations

from enum import StrEnum

import pytest

from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.jobs.models import JobState
from g2p_payment_phee.jobs.states import FINAL_STATES
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.programs.states import CycleState, EntitlementState

MOVES: list[tuple[str, type[StrEnum]]] = [
    ("cycle", CycleState),
    ("entitlement", EntitlementState),
    ("entitlements", EntitlementState),
    ("batch", BatchState),
]


@pytest.mark.parametrize(("entity", "states"), MOVES)
def test_every_state_an_entity_can_reach_has_its_action(entity: str, states: type[StrEnum]) -> None:
    for state in states:
        assert AuditAction.moved(entity, state) == f"{entity}.{state}"


def test_every_final_job_state_has_its_action() -> None:
    assert {AuditAction.moved("job", state) for state in FINAL_STATES} == {
        AuditAction.JOB_SUCCEEDED,
        AuditAction.JOB_FAILED,
    }
    assert JobState.QUEUED not in FINAL_STATES


def test_an_undeclared_move_is_refused() -> None:
    with pytest.raises(ValueError, match=r"cycle\.vanished"):
        AuditAction.moved("cycle", "vanished")


def test_actions_are_subject_dot_event() -> None:
    for action in AuditAction:
        subject, _, event = action.value.partition(".")
        assert subject
        assert event
        assert action.name == action.value.replace(".", "_").upper()
