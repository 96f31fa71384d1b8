"""``/programs/{id}/manager``: the program's payment manager (SPEC 3.1); ``/managers``: every
program's, with its last test connection.

Secrets are write-only: ``PUT`` takes new values (an empty string clears one, a missing or
null one is kept), every answer shows each only as "set" / "not set". A program's first PHEE
manager starts from the hub-wide defaults (``/phee-defaults``) for what it is not given.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import ConfigurationError, NotFound
from g2p_payment_phee.payments.config_service import (
    check_connection,
    configure_manager,
    describe_manager,
    list_managers,
)
from g2p_payment_phee.payments.manager import kind_spec
from g2p_payment_phee.payments.models import CheckResult
from g2p_payment_phee.phee.settings import PheeSecrets
from g2p_payment_phee.programs.models import ManagerKind, Program
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize
from g2p_payment_phee.web.api.programs import load_program
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(tags=["payment manager"])


def _settings_help() -> str:
    lines = ["Settings to change (merged with the stored ones, then validated as a whole)."]
    for kind in (ManagerKind.PHEE, ManagerKind.DEFAULT):
        lines.append("")
        lines.append(f"For a `{kind.value}` manager:")
        for name, info in kind_spec(kind).settings_model.model_fields.items():
            lines.append(_field_help(name, info))
    return "\n".join(lines)


def _field_help(name: str, info: FieldInfo) -> str:
    """``- `key` — Label (default …): description; choices …`` from the settings model."""
    default = "required" if info.is_required() else f"default `{info.default!r}`"
    line = f"- `{name}` — {info.title or name} ({default})"
    if info.description:
        line += f": {info.description}"
    annotation = info.annotation
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        shown = [f"`{m.value}` ({getattr(m, 'label', m.value)})" for m in annotation]
        line += "; choices " + ", ".join(shown)
    return line


SecretValue = Annotated[str | None, Field(max_length=20_000)]


class ManagerUpdate(BaseModel):
    """A new or changed payment manager."""

    kind: ManagerKind = ManagerKind.PHEE
    settings: dict[str, Any] = Field(default_factory=dict, description=_settings_help())
    secrets: dict[str, SecretValue] = Field(
        default_factory=dict,
        description=(
            "Write-only secrets: "
            + ", ".join(f"`{name}`" for name in PheeSecrets.model_fields)
            + ' for `phee`. A value sets it, "" clears it, null or absent keeps it.'
        ),
    )


class ManagerPublic(BaseModel):
    """The program's manager: kind, every setting, and each secret only as set / not set."""

    kind: ManagerKind
    settings: dict[str, Any]
    secrets: dict[str, Literal["set", "not set"]]


class ConnectionTestPublic(BaseModel):
    """Whether the hub answered as it should (``ok``); ``result`` ``warning`` when it did but a
    setting will not work there (``warnings`` say which); the exact failure otherwise."""

    ok: bool
    result: CheckResult
    message: str
    warnings: list[str]


class ManagerListItem(BaseModel):
    """One program's payment manager: its kind, the hub it pays through (null: none, or not
    configured yet) and its last test connection (null: never tested)."""

    program_id: uuid.UUID
    program_name: str
    kind: ManagerKind
    kind_label: str
    configured: bool
    hub: str | None
    checked_at: datetime | None
    check_result: CheckResult | None
    check_message: str | None


class ManagerList(BaseModel):
    """Every program's payment manager, by program name."""

    items: list[ManagerListItem]


def _described(session: Session, user: User, program: Program) -> ManagerPublic:
    try:
        return ManagerPublic.model_validate(describe_manager(session, user, program))
    except ConfigurationError as error:
        raise NotFound(error.message) from None


@router.get("/programs/{program_id}/manager")
def read_manager(program_id: uuid.UUID, user: ApiUser, session: DbSession) -> ManagerPublic:
    """The program's payment manager settings (secrets as set / not set)."""
    authorize(user, Permission.VIEW)
    return _described(session, user, load_program(session, program_id))


@router.put("/programs/{program_id}/manager")
def update_manager(
    program_id: uuid.UUID, body: ManagerUpdate, user: ApiUser, session: DbSession
) -> ManagerPublic:
    """Create or change the program's payment manager (admins); refused with per-field errors
    when the settings are not valid."""
    program = load_program(session, program_id)
    configure_manager(session, user, program, body.kind, body.settings, body.secrets)
    return _described(session, user, program)


@router.post("/programs/{program_id}/manager/test-connection")
def test_connection(
    program_id: uuid.UUID, user: ApiUser, session: DbSession
) -> ConnectionTestPublic:
    """Fetch a token and make a harmless read at the hub (admins): success, or the exact
    failure with endpoint and status."""
    result = check_connection(session, user, load_program(session, program_id))
    return ConnectionTestPublic(
        ok=result.ok, result=result.result, message=result.message, warnings=list(result.warnings)
    )


@router.get("/managers")
def list_all_managers(user: ApiUser, session: DbSession) -> ManagerList:
    """Every program's payment manager: kind, hub and last test connection (anyone)."""
    items = [
        ManagerListItem(
            program_id=m.program.id,
            program_name=m.program.name,
            kind=m.kind,
            kind_label=m.label,
            configured=m.configured,
            hub=m.hub,
            checked_at=m.checked_at,
            check_result=m.check_result,
            check_message=m.check_message,
        )
        for m in list_managers(session, user)
    ]
    return ManagerList(items=items)
