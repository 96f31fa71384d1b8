"""Programs, enrolment, cycles and entitlements (SPEC 2.2)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from g2p_payment_phee.db import Base, Money, StrEnumType
from g2p_payment_phee.programs.states import CycleState, EntitlementState
from g2p_payment_phee.registry.models import Registrant


class TargetType(StrEnum):
    """Whether a program pays individuals or groups (households)."""

    INDIVIDUAL = "individual"
    GROUP = "group"


class ProgramState(StrEnum):
    """A program pays while active; an ended program accepts no new cycles."""

    ACTIVE = "active"
    ENDED = "ended"


class ManagerKind(StrEnum):
    """Which payment manager pays a program's cycles."""

    DEFAULT = "default"
    PHEE = "phee"


class MembershipState(StrEnum):
    """A beneficiary's place in a program."""

    ENROLLED = "enrolled"
    EXITED = "exited"


class Program(Base):
    """A social-protection program paying one currency to individuals or groups."""

    __tablename__ = "programs"
    __table_args__ = (CheckConstraint("budget IS NULL OR budget >= 0", name="budget_not_negative"),)

    name: Mapped[str] = mapped_column(String(200), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    target_type: Mapped[TargetType] = mapped_column(StrEnumType(TargetType))
    state: Mapped[ProgramState] = mapped_column(
        StrEnumType(ProgramState), default=ProgramState.ACTIVE
    )
    budget: Mapped[Decimal | None] = mapped_column(Money())
    manager_kind: Mapped[ManagerKind] = mapped_column(StrEnumType(ManagerKind))
    maker_checker: Mapped[bool] = mapped_column(default=True)


class ProgramMembership(Base):
    """A registrant enrolled in a program."""

    __tablename__ = "program_memberships"
    __table_args__ = (UniqueConstraint("program_id", "registrant_id"),)

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    registrant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registrants.id"), index=True)
    state: Mapped[MembershipState] = mapped_column(
        StrEnumType(MembershipState), default=MembershipState.ENROLLED
    )


class Cycle(Base):
    """One payment round of a program, approved as a whole."""

    __tablename__ = "cycles"
    __table_args__ = (
        UniqueConstraint("program_id", "name"),
        UniqueConstraint("program_id", "sequence"),
        CheckConstraint("end_date >= start_date", name="dates_in_order"),
    )

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    name: Mapped[str] = mapped_column(String(200))
    sequence: Mapped[int]
    start_date: Mapped[date]
    end_date: Mapped[date]
    state: Mapped[CycleState] = mapped_column(StrEnumType(CycleState), default=CycleState.DRAFT)
    submitted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None]
    approved_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]
    # The entitlements' counts, amounts and fees per state, written at approval, after which
    # nothing changes them ({state: [count, "amount", "fees"]}; cycles approved before the fees
    # were kept lack them); None before (and for cycles approved before this column existed):
    # they are then counted (see ``programs.service.cycle_totals``).
    entitlement_totals: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    program: Mapped[Program] = relationship()


class Entitlement(Base):
    """What one registrant is owed in one cycle."""

    __tablename__ = "entitlements"
    __table_args__ = (
        UniqueConstraint("cycle_id", "registrant_id"),
        CheckConstraint("initial_amount > 0", name="amount_positive"),
        CheckConstraint("transfer_fee >= 0", name="fee_not_negative"),
        CheckConstraint(
            "valid_until IS NULL OR valid_from IS NULL OR valid_until >= valid_from",
            name="validity_in_order",
        ),
        # (cycle, state, id): prepare reads a cycle's approved entitlements in id order, in pages
        Index("ix_entitlements_cycle_state", "cycle_id", "state", "id"),
        # a cycle's entitlements sorted by code (the list's sortable reference)
        Index("ix_entitlements_cycle_code", "cycle_id", "code"),
    )

    code: Mapped[str] = mapped_column(String(64), unique=True)
    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cycles.id"))
    registrant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registrants.id"), index=True)
    initial_amount: Mapped[Decimal] = mapped_column(Money())
    transfer_fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    state: Mapped[EntitlementState] = mapped_column(
        StrEnumType(EntitlementState), default=EntitlementState.DRAFT
    )

    cycle: Mapped[Cycle] = relationship()
    registrant: Mapped[Registrant] = relationship()
