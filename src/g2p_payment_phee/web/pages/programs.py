"""Programs: the list, creating one, a program's page (cycles, enrolment, its manager)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import (
    ConfigurationError,
    Conflict,
    FieldError,
    G2PError,
    NotFound,
    ValidationFailed,
    http_status_for,
)
from g2p_payment_phee.i18n import _, ngettext
from g2p_payment_phee.payments.config_service import describe_manager
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.models import ManagerKind, Program, TargetType
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import Acting, SignedIn, Visitor
from g2p_payment_phee.web.pages.amounts import form_amount
from g2p_payment_phee.web.pages.forms import choice, field_errors, path_id
from g2p_payment_phee.web.pages.rendering import redirect, render

router = APIRouter()


def load_program(session: Session, program_id: str) -> Program:
    """The program of a page address, or NotFound."""
    program = session.get(Program, path_id(program_id, "program"))
    if program is None:
        raise NotFound(_("no program {program_id}").format(program_id=program_id))
    return program


@router.get("/programs")
def program_list(request: Request, session: DbSession, visitor: SignedIn) -> Response:
    """Every program, and the form to create one."""
    return _list_page(request, session, visitor, {}, {})


def _list_page(
    request: Request,
    session: Session,
    visitor: Visitor,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    context = {
        "programs": programs.list_programs(session, visitor.user),
        "values": values,
        "errors": errors,
        "targets": list(TargetType),
        "kinds": list(ManagerKind),
    }
    return render(request, "programs/list.html", context, status_code=status)


@router.post("/programs")
def create(
    request: Request,
    session: DbSession,
    visitor: Acting,
    name: str = Form(""),
    currency: str = Form(""),
    target_type: str = Form("individual"),
    manager_kind: str = Form("phee"),
    budget: str = Form(""),
    maker_checker: str = Form(""),
) -> Response:
    """Create a program; field problems are shown next to the fields."""
    user = visitor.require(Permission.MANAGE_PROGRAMS)
    values = {"name": name, "currency": currency, "budget": budget}
    try:
        program = programs.create_program(
            session,
            user,
            name=name,
            currency=currency.strip().upper(),
            target_type=choice(TargetType, target_type, "target_type") or TargetType.INDIVIDUAL,
            manager_kind=choice(ManagerKind, manager_kind, "manager_kind") or ManagerKind.PHEE,
            budget=form_amount(budget, "budget", _("Budget"), allow_zero=True)
            if budget.strip()
            else None,
            maker_checker=bool(maker_checker),
        )
    except (ValidationFailed, Conflict) as error:
        session.rollback()
        errors = field_errors(error) if isinstance(error, ValidationFailed) else {}
        errors = errors or {_field_of(error.message): error.message}
        return _list_page(request, session, visitor, values, errors, http_status_for(error))
    return redirect(
        f"/programs/{program.id}", _("Program {name} created.").format(name=program.name)
    )


def _field_of(message: str) -> str:
    for name in ("currency", "budget", "name"):
        if name in message or (name == "budget" and "amount" in message):
            return name
    return "name"


@router.get("/programs/{program_id}")
def program_page(
    request: Request, session: DbSession, visitor: SignedIn, program_id: str
) -> Response:
    """A program: its cycles, enrolment, its payment manager; forms for the next steps."""
    program = load_program(session, program_id)
    return _program_page(request, session, visitor, program, {}, {})


def _program_page(
    request: Request,
    session: Session,
    visitor: Visitor,
    program: Program,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    manager: dict[str, Any] | None
    try:
        manager = describe_manager(session, visitor.user, program)
    except ConfigurationError:
        manager = None
    context = {
        "program": program,
        "cycles": programs.list_cycles(session, visitor.user, program),
        "enrolled": programs.enrolled_count(session, program),
        "manager": manager,
        "values": values,
        "errors": errors,
    }
    return render(request, "programs/detail.html", context, status_code=status)


@router.post("/programs/{program_id}/enrol")
def enrol_all(request: Request, session: DbSession, visitor: Acting, program_id: str) -> Response:
    """Enrol every active registrant of the program's target type."""
    user = visitor.require(Permission.MANAGE_PROGRAMS)
    program = load_program(session, program_id)
    try:
        added = programs.enrol(session, user, program)
    except G2PError as error:
        session.rollback()
        errors = {"enrol": error.message}
        return _program_page(request, session, visitor, program, {}, errors, http_status_for(error))
    return redirect(
        f"/programs/{program.id}",
        ngettext("{count} beneficiary enrolled.", "{count} beneficiaries enrolled.", added).format(
            count=added
        ),
    )


@router.post("/programs/{program_id}/cycles")
def create_cycle(
    request: Request,
    session: DbSession,
    visitor: Acting,
    program_id: str,
    name: str = Form(""),
    start: str = Form(""),
    end: str = Form(""),
) -> Response:
    """A new draft cycle of the program."""
    user = visitor.require(Permission.MANAGE_PROGRAMS)
    program = load_program(session, program_id)
    values = {"name": name, "start": start, "end": end}
    try:
        cycle = programs.create_cycle(
            session,
            user,
            program,
            name=name,
            start=_date(start, "start"),
            end=_date(end, "end"),
        )
    except (ValidationFailed, Conflict) as error:
        session.rollback()
        errors = field_errors(error) if isinstance(error, ValidationFailed) else {}
        errors = errors or {"end" if "ends" in error.message else "name": error.message}
        return _program_page(request, session, visitor, program, values, errors, 422)
    return redirect(f"/cycles/{cycle.id}", _("Cycle {name} created.").format(name=cycle.name))


def _date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed(
            _("{field} is not a date").format(field=field),
            [FieldError(field, _("a date, YYYY-MM-DD"))],
        ) from None
