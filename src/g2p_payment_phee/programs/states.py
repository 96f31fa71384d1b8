"""The cycle and entitlement state machines (SPEC 2.2)."""

from __future__ import annotations

from enum import StrEnum

from g2p_payment_phee.statemachine import StateMachine


class CycleState(StrEnum):
    """draft → to_approve → approved → distributed → ended; cancelled from any non-final state."""

    DRAFT = "draft"
    TO_APPROVE = "to_approve"
    APPROVED = "approved"
    DISTRIBUTED = "distributed"
    ENDED = "ended"
    CANCELLED = "cancelled"


class EntitlementState(StrEnum):
    """draft → pending_validation → approved; rejected, cancelled, expired on the way."""

    DRAFT = "draft"
    PENDING_VALIDATION = "pending_validation"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


_C = CycleState
CYCLE_MACHINE = StateMachine[CycleState](
    "cycle",
    {
        _C.DRAFT: frozenset({_C.TO_APPROVE, _C.CANCELLED}),
        _C.TO_APPROVE: frozenset({_C.APPROVED, _C.DRAFT, _C.CANCELLED}),
        _C.APPROVED: frozenset({_C.DISTRIBUTED, _C.CANCELLED}),
        _C.DISTRIBUTED: frozenset({_C.ENDED}),
    },
)

_E = EntitlementState
ENTITLEMENT_MACHINE = StateMachine[EntitlementState](
    "entitlement",
    {
        _E.DRAFT: frozenset({_E.PENDING_VALIDATION, _E.CANCELLED}),
        _E.PENDING_VALIDATION: frozenset({_E.APPROVED, _E.REJECTED, _E.DRAFT, _E.CANCELLED}),
        _E.APPROVED: frozenset({_E.EXPIRED, _E.CANCELLED}),
    },
)
