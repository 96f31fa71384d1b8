"""``/programs``: list, create, detail, enrolment, and the program's cycles."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session

from g2p_payment_phee.programs import service
from g2p_payment_phee.programs.models import (
    ManagerKind,
    Program,
    ProgramState,
    TargetType,
)
from g2p_payment_phee.users.permissions import Permission, authorize
from g2p_payment_phee.web.api.cycles import CyclePublic, CyclesPublic, cycle_public
from g2p_payment_phee.web.api.schemas import Amount, AmountIn, PublicModel
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/programs", tags=["programs"])


class ProgramCreate(BaseModel):
    """A new program."""

    name: str = Field(min_length=1, max_length=200)
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. KES")
    target_type: TargetType = TargetType.INDIVIDUAL
    manager_kind: ManagerKind = ManagerKind.PHEE
    budget: AmountIn | None = Field(default=None, ge=0, max_digits=24, decimal_places=4)
    maker_checker: bool = True


class ProgramPublic(PublicModel):
    """A program."""

    id: uuid.UUID
    name: str
    currency: str
    target_type: TargetType
    state: ProgramState
    budget: Amount | None
    manager_kind: ManagerKind
    maker_checker: bool
    created_at: datetime


class ProgramDetailPublic(ProgramPublic):
    """A program with its enrolment count."""

    enrolled: int


class ProgramsPublic(BaseModel):
    """Every program, by name (a short list: not paginated)."""

    items: list[ProgramPublic]


class EnrolmentCreate(BaseModel):
    """Enrol the registrants named by reference, or (``all``) every registrant of the target
    type."""

    references: list[str] | None = Field(default=None, max_length=10_000)
    all: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> EnrolmentCreate:
        if self.all == bool(self.references):
            raise ValueError("give either references or all=true")
        return self


class EnrolmentPublic(BaseModel):
    """How many beneficiaries were newly enrolled."""

    enrolled: int
    total_enrolled: int


class CycleCreate(BaseModel):
    """A new draft cycle."""

    name: str = Field(min_length=1, max_length=200)
    start_date: date
    end_date: date


def load_program(session: Session, program_id: uuid.UUID) -> Program:
    """The program with that id, or NotFound."""
    return service.get_program(session, str(program_id))


@router.get("")
def list_programs(user: ApiUser, session: DbSession) -> ProgramsPublic:
    """Every program."""
    rows = service.list_programs(session, user)
    return ProgramsPublic(items=[ProgramPublic.model_validate(p) for p in rows])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_program(body: ProgramCreate, user: ApiUser, session: DbSession) -> ProgramPublic:
    """Create a program (program managers and admins)."""
    program = service.create_program(
        session,
        user,
        name=body.name,
        currency=body.currency,
        target_type=body.target_type,
        manager_kind=body.manager_kind,
        budget=body.budget,
        maker_checker=body.maker_checker,
    )
    return ProgramPublic.model_validate(program)


@router.get("/{program_id}")
def read_program(program_id: uuid.UUID, user: ApiUser, session: DbSession) -> ProgramDetailPublic:
    """One program with its enrolment count."""
    authorize(user, Permission.VIEW)
    program = load_program(session, program_id)
    base = ProgramPublic.model_validate(program).model_dump()
    return ProgramDetailPublic(**base, enrolled=service.enrolled_count(session, program))


@router.post("/{program_id}/enrolments")
def enrol(
    program_id: uuid.UUID, body: EnrolmentCreate, user: ApiUser, session: DbSession
) -> EnrolmentPublic:
    """Enrol registrants of the program's target type (already enrolled ones are left alone)."""
    program = load_program(session, program_id)
    count = service.enrol(session, user, program, None if body.all else body.references)
    return EnrolmentPublic(enrolled=count, total_enrolled=service.enrolled_count(session, program))


@router.get("/{program_id}/cycles")
def list_cycles(program_id: uuid.UUID, user: ApiUser, session: DbSession) -> CyclesPublic:
    """The program's cycles in sequence order."""
    program = load_program(session, program_id)
    rows = service.list_cycles(session, user, program)
    return CyclesPublic(items=[CyclePublic.model_validate(c) for c in rows])


@router.post("/{program_id}/cycles", status_code=status.HTTP_201_CREATED)
def create_cycle(
    program_id: uuid.UUID, body: CycleCreate, user: ApiUser, session: DbSession
) -> CyclePublic:
    """Create a draft cycle; its name is unique in the program."""
    program = load_program(session, program_id)
    cycle = service.create_cycle(
        session, user, program, name=body.name, start=body.start_date, end=body.end_date
    )
    return cycle_public(cycle)
