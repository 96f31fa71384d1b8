"""The cycle and entitlement state machines (SPEC 2.2)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Result, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.errors import Conflict
from g2p_payment_phee.i18n import _
from g2p_payment_phee.statemachine import StateMachine

if TYPE_CHECKING:
    from g2p_payment_phee.programs.models import Cycle, Entitlement
    from g2p_payment_phee.users.models import User


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
        _C.APPROVED: frozenset({_C.DISTRIBUTED, _C.ENDED, _C.CANCELLED}),
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


def set_cycle_state(
    session: Session,
    actor: User | None,
    cycle: Cycle,
    target: CycleState,
    data: dict[str, Any] | None = None,
) -> None:
    """The only writer of a cycle's state: checks the table, guards against a concurrent change
    (the UPDATE names the state it read), and records an audit event."""
    from g2p_payment_phee.programs.models import Cycle

    current = cycle.state
    CYCLE_MACHINE.check(current, target)
    _guarded_move(session, Cycle, cycle, current, target, f"cycle {cycle.name!r}")
    audit.record(
        session,
        actor,
        AuditAction.moved("cycle", target),
        cycle,
        {"from": current, "to": target, **(data or {})},
    )


def move_entitlements(
    session: Session,
    actor: User | None,
    cycle: Cycle,
    source: EntitlementState,
    target: EntitlementState,
) -> int:
    """The only (set-based) writer of entitlement states: every entitlement of the cycle in
    ``source`` moves to ``target`` in one UPDATE, with one audit event counting them."""
    from g2p_payment_phee.programs.models import Entitlement

    ENTITLEMENT_MACHINE.check(source, target)
    result = session.execute(
        update(Entitlement)
        .where(Entitlement.cycle_id == cycle.id, Entitlement.state == source)
        .values(state=target)
        .execution_options(synchronize_session=False)
    )
    moved = _rowcount(result)
    if moved:
        cycle.entitlement_totals = None  # no longer true: counted again until the next approval
        audit.record(
            session,
            actor,
            AuditAction.moved("entitlements", target),
            cycle,
            {"from": source, "to": target, "count": moved},
        )
    return moved


def set_entitlement_state(
    session: Session,
    actor: User | None,
    entitlement: Entitlement,
    target: EntitlementState,
    data: dict[str, Any] | None = None,
) -> None:
    """One entitlement's move (e.g. an approver rejecting it), checked, guarded against a
    concurrent change (the UPDATE names the state it read, as ``set_cycle_state`` does) and
    audited with ``data``."""
    from g2p_payment_phee.programs.models import Cycle, Entitlement

    previous = entitlement.state
    ENTITLEMENT_MACHINE.check(previous, target)
    what = f"entitlement {entitlement.code}"
    _guarded_move(session, Entitlement, entitlement, previous, target, what)
    cycle = session.get(Cycle, entitlement.cycle_id)
    if cycle is not None and cycle.entitlement_totals is not None:
        cycle.entitlement_totals = None  # no longer true (see ``move_entitlements``)
    audit.record(
        session,
        actor,
        AuditAction.moved("entitlement", target),
        entitlement,
        {"from": previous, "to": target, **(data or {})},
    )


def _guarded_move(
    session: Session, model: type[Any], row: Any, current: StrEnum, target: StrEnum, what: str
) -> None:
    """``row``'s state → ``target`` by an UPDATE that names the state it was read in; Conflict
    when someone changed it meanwhile."""
    result = session.execute(
        update(model)
        .where(model.id == row.id, model.state == current)
        .values(state=target)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        raise Conflict(_("{what} was changed by someone else; reload and retry").format(what=what))
    set_committed_value(row, "state", target)


def _rowcount(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0))
