"""Programs, enrolment, cycles and entitlements: the use cases, each authorised and audited.

Bulk work (enrolment, entitlement generation, approval) is set-based: one statement or large
executemany chunks, never a per-row ORM round trip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import and_, exists, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.bulk import bulk_insert_dicts
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import (
    BusinessRuleViolation,
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
)
from g2p_payment_phee.i18n import _
from g2p_payment_phee.ids import new_id
from g2p_payment_phee.money import check_precision, parse_amount, validate_currency
from g2p_payment_phee.programs.models import (
    Cycle,
    Entitlement,
    ManagerKind,
    MembershipState,
    Program,
    ProgramMembership,
    ProgramState,
    TargetType,
)
from g2p_payment_phee.programs.states import (
    CycleState,
    EntitlementState,
    move_entitlements,
    set_cycle_state,
    set_entitlement_state,
)
from g2p_payment_phee.registry.models import Registrant, RegistrantKind
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

_M = TypeVar("_M")


def new_entitlement_code() -> str:
    """A unique, unguessable entitlement code."""
    return f"ENT-{uuid.uuid4().hex[:20].upper()}"


# --- programs ---------------------------------------------------------------------------------


def create_program(
    session: Session,
    actor: User,
    *,
    name: str,
    currency: str,
    target_type: TargetType = TargetType.INDIVIDUAL,
    manager_kind: ManagerKind = ManagerKind.DEFAULT,
    budget: str | Decimal | None = None,
    maker_checker: bool = True,
) -> Program:
    """A new active program paying ``currency``; the name is unique."""
    authorize(actor, Permission.MANAGE_PROGRAMS)
    name = name.strip()
    if not name:
        raise ValidationFailed(_("a program needs a name"))
    if session.scalar(select(Program.id).where(Program.name == name)) is not None:
        raise Conflict(_("a program named {name!r} already exists").format(name=name))
    code = validate_currency(currency)
    amount = None if budget is None else parse_amount(budget, allow_zero=True)
    if amount is not None:
        check_precision(amount, code)  # a budget of 10.005 USD is a typing mistake
    program = Program(
        name=name,
        currency=code,
        target_type=target_type,
        manager_kind=manager_kind,
        budget=amount,
        maker_checker=maker_checker,
    )
    session.add(program)
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.PROGRAM_CREATED,
        program,
        {"currency": code, "target_type": target_type, "manager": manager_kind, "budget": amount},
    )
    return program


def get_program(session: Session, name_or_id: str) -> Program:
    """A program by name or id, or NotFound."""
    program = session.scalar(select(Program).where(Program.name == name_or_id))
    if program is None:
        program = _by_uuid(session, Program, name_or_id)
    if program is None:
        raise NotFound(_("no program {name_or_id!r}").format(name_or_id=name_or_id))
    return program


def list_programs(session: Session, actor: User) -> list[Program]:
    """Every program, by name."""
    authorize(actor, Permission.VIEW)
    return list(session.scalars(select(Program).order_by(Program.name)))


def enrol(
    session: Session, actor: User, program: Program, references: Sequence[str] | None = None
) -> int:
    """Enrol registrants of the program's target type: the given references, or all of them.

    Already enrolled registrants are left alone; the count of new enrolments is returned."""
    authorize(actor, Permission.MANAGE_PROGRAMS)
    require_active(program)
    kind = RegistrantKind(program.target_type.value)
    candidates = select(Registrant.id).where(Registrant.kind == kind, Registrant.active.is_(True))
    if references is not None:
        _check_references(session, kind, references)
        candidates = candidates.where(Registrant.reference.in_(list(references)))
    already = exists().where(
        ProgramMembership.program_id == program.id,
        ProgramMembership.registrant_id == Registrant.id,
    )
    ids = list(session.scalars(candidates.where(~already).order_by(Registrant.id)))
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "created_at": now,
            "program_id": program.id,
            "registrant_id": rid,
            "state": MembershipState.ENROLLED,
        }
        for rid in ids
    ]
    bulk_insert_dicts(session, ProgramMembership.__table__, rows)
    audit.record(session, actor, AuditAction.PROGRAM_ENROLLED, program, {"count": len(rows)})
    return len(rows)


def _check_references(session: Session, kind: RegistrantKind, references: Sequence[str]) -> None:
    found = dict(
        session.execute(
            select(Registrant.reference, Registrant.kind).where(
                Registrant.reference.in_(list(references))
            )
        )
        .tuples()
        .all()
    )
    missing = [r for r in references if r not in found]
    if missing:
        raise NotFound(
            _("unknown registrant reference(s): {missing}").format(missing=", ".join(missing[:10]))
        )
    wrong = [r for r in references if found[r] is not kind]
    if wrong:
        raise ValidationFailed(
            _("the program pays {kind}s; not one: {wrong}").format(
                kind=kind, wrong=", ".join(wrong[:10])
            )
        )


def enrolled_count(session: Session, program: Program) -> int:
    """How many beneficiaries are enrolled."""
    query = select(func.count()).where(
        ProgramMembership.program_id == program.id,
        ProgramMembership.state == MembershipState.ENROLLED,
    )
    return int(session.scalar(query) or 0)


# --- cycles -----------------------------------------------------------------------------------


def create_cycle(
    session: Session, actor: User, program: Program, *, name: str, start: date, end: date
) -> Cycle:
    """A draft cycle with the next sequence number; name unique in the program."""
    authorize(actor, Permission.MANAGE_PROGRAMS)
    require_active(program)
    name = name.strip()
    if not name:
        raise ValidationFailed(_("a cycle needs a name"))
    if end < start:
        raise ValidationFailed(
            _("the cycle ends ({end}) before it starts ({start})").format(end=end, start=start)
        )
    taken = select(Cycle.id).where(Cycle.program_id == program.id, Cycle.name == name)
    if session.scalar(taken) is not None:
        raise Conflict(
            _("program {name!r} already has a cycle named {cycle!r}").format(
                name=program.name, cycle=name
            )
        )
    last = session.scalar(select(func.max(Cycle.sequence)).where(Cycle.program_id == program.id))
    cycle = Cycle(
        program_id=program.id,
        program=program,
        name=name,
        sequence=(last or 0) + 1,
        start_date=start,
        end_date=end,
    )
    session.add(cycle)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            _("a cycle {name!r} was created at the same time; retry").format(name=name)
        ) from None
    audit.record(session, actor, AuditAction.CYCLE_CREATED, cycle, {"start": start, "end": end})
    return cycle


def get_cycle(session: Session, name_or_id: str, program: Program | None = None) -> Cycle:
    """A cycle by id, or by name (within ``program`` when names repeat across programs)."""
    cycle = _by_uuid(session, Cycle, name_or_id)
    if cycle is not None:
        return cycle
    query = select(Cycle).where(Cycle.name == name_or_id)
    if program is not None:
        query = query.where(Cycle.program_id == program.id)
    found = list(session.scalars(query.limit(2)))
    if not found:
        raise NotFound(_("no cycle {name_or_id!r}").format(name_or_id=name_or_id))
    if len(found) > 1:
        raise ValidationFailed(
            _("several programs have a cycle {name_or_id!r}: name the program").format(
                name_or_id=name_or_id
            )
        )
    return found[0]


def list_cycles(session: Session, actor: User, program: Program | None = None) -> list[Cycle]:
    """Cycles, by program and sequence."""
    authorize(actor, Permission.VIEW)
    query = select(Cycle).join(Program).order_by(Program.name, Cycle.sequence)
    if program is not None:
        query = query.where(Cycle.program_id == program.id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class CycleTotals:
    """Counts, amounts and transfer fees of a cycle's entitlements by state (the fees of a cycle
    approved before fees were kept in its totals are unknown: absent)."""

    counts: dict[EntitlementState, int]
    amounts: dict[EntitlementState, Decimal]
    fees: dict[EntitlementState, Decimal] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def cycle_totals(session: Session, cycle: Cycle) -> CycleTotals:
    """Entitlement counts and amounts per state: as written at approval (nothing changes them
    after), or counted (one grouped query) before it."""
    fixed = cycle.entitlement_totals
    if fixed is not None:
        counts = {EntitlementState(k): int(v[0]) for k, v in fixed.items()}
        amounts = {EntitlementState(k): Decimal(v[1]) for k, v in fixed.items()}
        fees = {EntitlementState(k): Decimal(v[2]) for k, v in fixed.items() if len(v) > 2}
        return CycleTotals(counts, amounts, fees)
    return count_entitlements(session, cycle)


def count_entitlements(session: Session, cycle: Cycle) -> CycleTotals:
    """The cycle's entitlements counted and summed per state (one grouped query)."""
    rows = (
        session.execute(
            select(
                Entitlement.state,
                func.count(),
                func.coalesce(func.sum(Entitlement.initial_amount), 0),
                func.coalesce(func.sum(Entitlement.transfer_fee), 0),
            )
            .where(Entitlement.cycle_id == cycle.id)
            .group_by(Entitlement.state)
        )
        .tuples()
        .all()
    )
    counts: dict[EntitlementState, int] = {}
    amounts: dict[EntitlementState, Decimal] = {}
    fees: dict[EntitlementState, Decimal] = {}
    for state, count, amount, fee in rows:
        counts[state] = int(count)
        amounts[state] = Decimal(amount)
        fees[state] = Decimal(fee)
    return CycleTotals(counts, amounts, fees)


def _fix_totals(session: Session, cycle: Cycle) -> None:
    """Write the approved cycle's entitlement totals on it (see ``Cycle.entitlement_totals``)."""
    totals = count_entitlements(session, cycle)
    cycle.entitlement_totals = {
        str(state): [count, str(totals.amounts[state]), str(totals.fees[state])]
        for state, count in totals.counts.items()
    }


# --- entitlements -----------------------------------------------------------------------------


def add_fixed_entitlements(
    session: Session,
    actor: User,
    cycle: Cycle,
    *,
    amount: str | Decimal,
    transfer_fee: str | Decimal = "0",
    valid_from: date | None = None,
    valid_until: date | None = None,
) -> int:
    """One draft entitlement of ``amount`` for every enrolled beneficiary who has none yet."""
    authorize(actor, Permission.MANAGE_PROGRAMS)
    require_draft(cycle)
    program = cycle.program
    value = parse_amount(amount)
    check_precision(value, program.currency)
    try:  # the fee's problems name the fee, not "amount"
        fee = parse_amount(transfer_fee, allow_zero=True)
        check_precision(fee, program.currency)
    except ValidationFailed as error:
        reason = _("transfer fee: {problem}").format(problem=error.message.removeprefix("amount "))
        raise ValidationFailed(reason, [FieldError("transfer_fee", reason)]) from None
    _check_validity(valid_from, valid_until)
    has_one = exists().where(
        Entitlement.cycle_id == cycle.id,
        Entitlement.registrant_id == ProgramMembership.registrant_id,
    )
    query = (
        select(ProgramMembership.registrant_id)
        .where(
            ProgramMembership.program_id == program.id,
            ProgramMembership.state == MembershipState.ENROLLED,
            ~has_one,
        )
        .order_by(ProgramMembership.registrant_id)
    )
    base = {
        "cycle_id": cycle.id,
        "initial_amount": value,
        "transfer_fee": fee,
        "currency": program.currency,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "state": EntitlementState.DRAFT,
    }
    added = insert_entitlements(
        session, (dict(base, registrant_id=r) for r in session.scalars(query))
    )
    audit.record(
        session,
        actor,
        AuditAction.ENTITLEMENTS_GENERATED,
        cycle,
        {"count": added, "amount": value, "fee": fee},
    )
    return added


def insert_entitlements(session: Session, rows: Iterable[dict[str, object]]) -> int:
    """Bulk insert prepared entitlement rows (ids, codes and timestamps filled in here); all
    rows have the same keys."""
    now = utcnow()

    def completed(row: dict[str, object]) -> dict[str, object]:
        row.setdefault("code", new_entitlement_code())
        return {"id": new_id(), "created_at": now, **row}

    return bulk_insert_dicts(session, Entitlement.__table__, map(completed, rows))


def submit_cycle(session: Session, actor: User, cycle: Cycle) -> int:
    """The maker sends a draft cycle for approval; its draft entitlements become pending."""
    authorize(actor, Permission.MANAGE_PROGRAMS)
    has_draft = select(Entitlement.id).where(
        Entitlement.cycle_id == cycle.id, Entitlement.state == EntitlementState.DRAFT
    )
    if cycle.state is CycleState.DRAFT and session.scalar(has_draft.limit(1)) is None:
        raise BusinessRuleViolation(
            _("cycle {name!r} has no draft entitlements to submit").format(name=cycle.name)
        )
    set_cycle_state(session, actor, cycle, CycleState.TO_APPROVE)
    cycle.submitted_by_id = actor.id
    cycle.submitted_at = utcnow()
    return move_entitlements(
        session, actor, cycle, EntitlementState.DRAFT, EntitlementState.PENDING_VALIDATION
    )


def approve_cycle(session: Session, actor: User, cycle: Cycle) -> int:
    """The checker approves the cycle and its pending entitlements.

    Refused to the user who submitted it (when the program keeps maker–checker on) and when the
    program's budget would be exceeded."""
    authorize(actor, Permission.APPROVE)
    program = cycle.program
    maker = cycle.submitted_by_id == actor.id
    if cycle.state is CycleState.TO_APPROVE and program.maker_checker and maker:
        raise BusinessRuleViolation(
            _(
                "{username} submitted cycle {name!r} and so cannot approve it "
                "(maker–checker): another approver must"
            ).format(username=actor.username, name=cycle.name)
        )
    if cycle.state is CycleState.TO_APPROVE:
        _check_budget(session, program, cycle)
    set_cycle_state(session, actor, cycle, CycleState.APPROVED)
    cycle.approved_by_id = actor.id
    cycle.approved_at = utcnow()
    approved = move_entitlements(
        session, actor, cycle, EntitlementState.PENDING_VALIDATION, EntitlementState.APPROVED
    )
    _fix_totals(session, cycle)
    return approved


def return_cycle_to_draft(session: Session, actor: User, cycle: Cycle, reason: str) -> int:
    """The checker sends a cycle back to its maker; pending entitlements become draft again."""
    authorize(actor, Permission.APPROVE)
    if not reason.strip():
        raise ValidationFailed(_("say why the cycle goes back to draft"))
    set_cycle_state(session, actor, cycle, CycleState.DRAFT, {"reason": reason.strip()})
    return move_entitlements(
        session, actor, cycle, EntitlementState.PENDING_VALIDATION, EntitlementState.DRAFT
    )


def cancel_cycle(session: Session, actor: User, cycle: Cycle, reason: str) -> None:
    """Cancel a cycle that is not final; its open entitlements are cancelled too."""
    authorize(actor, Permission.MANAGE_PROGRAMS)
    set_cycle_state(session, actor, cycle, CycleState.CANCELLED, {"reason": reason})
    for state in (EntitlementState.DRAFT, EntitlementState.PENDING_VALIDATION):
        move_entitlements(session, actor, cycle, state, EntitlementState.CANCELLED)


def reject_entitlement(
    session: Session, actor: User, cycle: Cycle, code: str, reason: str
) -> Entitlement:
    """An approver refuses one pending entitlement of a cycle waiting for approval, saying
    why; the rest of the cycle goes on (approving the cycle approves the others, and a
    rejected entitlement is never paid)."""
    authorize(actor, Permission.APPROVE)
    if not reason.strip():
        raise ValidationFailed(_("say why the entitlement is rejected"))
    entitlement = session.scalar(
        select(Entitlement).where(Entitlement.cycle_id == cycle.id, Entitlement.code == code)
    )
    if entitlement is None:
        raise NotFound(
            _("no entitlement {code!r} in cycle {name!r}").format(code=code, name=cycle.name)
        )
    if cycle.state is not CycleState.TO_APPROVE:
        raise BusinessRuleViolation(
            _(
                "entitlements are rejected while their cycle waits for approval; cycle "
                "{name!r} is {state}"
            ).format(name=cycle.name, state=cycle.state)
        )
    set_entitlement_state(
        session, actor, entitlement, EntitlementState.REJECTED, {"reason": reason.strip()}
    )
    return entitlement


def _check_budget(session: Session, program: Program, cycle: Cycle) -> None:
    if program.budget is None:
        return
    counted = (EntitlementState.APPROVED, EntitlementState.PENDING_VALIDATION)
    spent = session.scalar(
        select(func.coalesce(func.sum(Entitlement.initial_amount), literal(0)))
        .join(Cycle, Cycle.id == Entitlement.cycle_id)
        .where(
            Cycle.program_id == program.id,
            Cycle.state.not_in([CycleState.CANCELLED]),
            and_(
                Entitlement.state.in_(counted),
                (Entitlement.state == EntitlementState.APPROVED) | (Cycle.id == cycle.id),
            ),
        )
    )
    total = Decimal(spent or 0)
    if total > program.budget:
        raise BusinessRuleViolation(
            _(
                "approving cycle {name!r} would commit {total:f} {currency}, over the "
                "program budget of {budget:f} {currency} by {count:f}"
            ).format(
                name=cycle.name,
                total=total,
                currency=program.currency,
                budget=program.budget,
                count=total - program.budget,
            )
        )


def _check_validity(valid_from: date | None, valid_until: date | None) -> None:
    if valid_from and valid_until and valid_until < valid_from:
        raise ValidationFailed(
            _("valid_until ({valid_until}) is before valid_from ({valid_from})").format(
                valid_until=valid_until, valid_from=valid_from
            )
        )


def require_active(program: Program) -> None:
    if program.state is not ProgramState.ACTIVE:
        raise BusinessRuleViolation(_("program {name!r} has ended").format(name=program.name))


def require_draft(cycle: Cycle) -> None:
    if cycle.state is not CycleState.DRAFT:
        raise BusinessRuleViolation(
            _("entitlements are added while a cycle is draft; {name!r} is {state}").format(
                name=cycle.name, state=cycle.state
            )
        )


def _by_uuid(session: Session, model: type[_M], text: str) -> _M | None:
    try:
        key = uuid.UUID(text)
    except ValueError:
        return None
    return session.get(model, key)
