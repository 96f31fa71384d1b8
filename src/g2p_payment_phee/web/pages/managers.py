"""A program's Payment Hub EE manager: every setting of SPEC 3.1, validated on save.

Secrets are write-only: the form shows whether each is set, a blank field keeps the stored
value, "clear" removes it, and no secret is ever written into a page (not even back into the
form after a validation error).  A program without a PHEE manager yet is shown what a new one
starts from: the hub-wide PHEE defaults.  "Test connection" fetches a token and reports the
exact failure, or a warning (a payment mode the hub does not know).  Everyone may read the
settings; only an admin may change or test them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic.fields import FieldInfo
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from g2p_payment_phee.errors import ConfigurationError, ValidationFailed
from g2p_payment_phee.i18n import _, lazy_gettext
from g2p_payment_phee.payments.config_service import (
    NOT_SET,
    check_connection,
    configure_manager,
    describe_manager,
)
from g2p_payment_phee.phee.defaults import new_manager_defaults
from g2p_payment_phee.phee.settings import PheeSecrets, PheeSettings
from g2p_payment_phee.programs.models import ManagerKind, Program
from g2p_payment_phee.registry.service import list_id_types
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import Acting, SignedIn, Visitor
from g2p_payment_phee.web.pages.forms import field_errors
from g2p_payment_phee.web.pages.programs import load_program
from g2p_payment_phee.web.pages.rendering import redirect, render

router = APIRouter()

GROUPS: list[tuple[Any, list[str]]] = [
    (lazy_gettext("Manager"), ["name", "create_batch", "max_batch_size", "max_file_bytes",
                 "make_csv_at_prepare", "file_name_prefix", "amount_format", "note_template"]),
    (lazy_gettext("Payment Hub EE endpoints"), ["auth_endpoint_url", "payment_endpoint_url",
                                  "status_endpoint_url", "details_endpoint_url",
                                  "callback_base_url", "batch_request_timeout",
                                  "verify_tls", "ca_bundle"]),
    (lazy_gettext("Tenant and sign-in"), ["tenant_id", "username", "grant_type"]),
    (lazy_gettext("Payer and payees"), ["payment_mode", "payer_id_type", "payer_id",
                                         "payee_id_type", "reg_id_type_for_payee_id",
                                         "payee_id_type_to_send", "msisdn_format"]),
    (lazy_gettext("Headers"), ["batch_type_header", "batch_purpose_header",
                                "registering_institution_id", "program_id_header"]),
]  # fmt: skip


@dataclass(frozen=True)
class Setting:
    """One field of the form: its name, label, widget, choices and help (all from the model)."""

    name: str
    title: str
    widget: str  # text | number | checkbox | select
    choices: list[tuple[str, str]]  # (value, label)
    help: str
    required: bool
    nullable: bool  # a blank field means "not set" (None), not an empty text


def _setting(name: str, info: FieldInfo) -> Setting:
    annotation = info.annotation
    widget, choices = "text", list[tuple[str, str]]()
    if annotation is bool:
        widget = "checkbox"
    elif annotation in (int, float):
        widget = "number"
    elif isinstance(annotation, type) and issubclass(annotation, StrEnum):
        widget = "select"
        choices = [(member.value, getattr(member, "label", member.value)) for member in annotation]
    required = info.is_required()
    nullable = not required and info.default is None
    title = info.title or name
    return Setting(name, title, widget, choices, info.description or "", required, nullable)


SETTINGS = {name: _setting(name, info) for name, info in PheeSettings.model_fields.items()}
SECRETS = {name: _setting(name, info) for name, info in PheeSecrets.model_fields.items()}
ID_TYPE_SETTING = "reg_id_type_for_payee_id"
FROM_DEFAULTS = lazy_gettext("set by the hub defaults")
assert sorted(n for _, names in GROUPS for n in names) == sorted(SETTINGS), "every setting shown"


def _defaults() -> dict[str, Any]:
    return {
        name: info.default
        for name, info in PheeSettings.model_fields.items()
        if not info.is_required()
    }


def _current(session: Session, visitor: Visitor, program: Program) -> dict[str, Any] | None:
    try:
        return describe_manager(session, visitor.user, program)
    except ConfigurationError:
        return None


def _shown_values(session: Session, visitor: Visitor, program: Program) -> dict[str, Any]:
    """The stored settings over the defaults; a program without a PHEE manager yet shows what
    a new one starts from: the hub-wide PHEE defaults over the settings' own."""
    current = _current(session, visitor, program)
    if current and current["kind"] == ManagerKind.PHEE.value:
        return {**_defaults(), **current["settings"]}
    return {**_defaults(), **new_manager_defaults(session)[0]}


def _secrets_shown(session: Session, current: dict[str, Any] | None) -> dict[str, str]:
    """Each secret as set / not set; a new manager's as the hub-wide defaults would set it."""
    if current is not None and current["kind"] == ManagerKind.PHEE.value:
        return {name: current["secrets"].get(name, NOT_SET) for name in SECRETS}
    hub = new_manager_defaults(session)[1]
    return {name: str(FROM_DEFAULTS) if hub.get(name) else NOT_SET for name in SECRETS}


def _page(
    request: Request,
    session: Session,
    visitor: Visitor,
    program: Program,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str = "",
    outcome: str = "",
    status: int = 200,
) -> Response:
    current = _current(session, visitor, program)
    shown = values if values is not None else _shown_values(session, visitor, program)
    shown_settings = {**SETTINGS, ID_TYPE_SETTING: _id_type_choice(session, visitor, shown)}
    context = {
        "program": program,
        "groups": [(str(title), [shown_settings[n] for n in names]) for title, names in GROUPS],
        "values": {k: ("" if v is None else v) for k, v in shown.items()},
        "secrets": _secrets_shown(session, current),
        "secret_settings": SECRETS,
        "current_kind": current["kind"] if current else None,
        "errors": errors or {},
        "message": message,
        "outcome": outcome,
        "editable": visitor.can(Permission.MANAGE_SETTINGS),
    }  # fmt: skip
    return render(request, "programs/manager.html", context, status_code=status)


def _id_type_choice(session: Session, visitor: Visitor, shown: dict[str, Any]) -> Setting:
    """The Payee DFSP ID type as a choice of the enabled ID types (stored by name); a stored
    type that was disabled since stays offered, so saving the form does not drop it."""
    names = [t.name for t in list_id_types(session, visitor.user, enabled_only=True)]
    stored = shown.get(ID_TYPE_SETTING)
    if isinstance(stored, str) and stored and stored not in names:
        names.append(stored)
    choices = [(name, name) for name in names]
    return replace(SETTINGS[ID_TYPE_SETTING], widget="select", choices=choices)


@router.get("/programs/{program_id}/manager")
def manager_form(
    request: Request, session: DbSession, visitor: SignedIn, program_id: str
) -> Response:
    """The settings (read-only for everyone but an admin)."""
    return _page(request, session, visitor, load_program(session, program_id))


@router.post("/programs/{program_id}/manager")
async def save(request: Request, session: DbSession, visitor: Acting, program_id: str) -> Response:
    """Validate and save every setting; secrets change only when a value (or clear) is given."""
    user = visitor.require(Permission.MANAGE_SETTINGS)
    program = load_program(session, program_id)
    form = await request.form()
    values = _submitted(form)
    secrets: dict[str, str | None] = {}
    for name in SECRETS:
        given = form.get(name)
        if form.get(f"clear_{name}"):
            secrets[name] = ""
        elif isinstance(given, str) and given.strip():
            secrets[name] = given.strip() if name != "signing_private_key" else given
    try:
        configure_manager(session, user, program, ManagerKind.PHEE, values, secrets)
    except ValidationFailed as error:
        session.rollback()
        errors = field_errors(error)
        general = errors.pop("settings", "") or errors.pop("secrets", "")
        if "reg_id_type_for_payee_id" in general:
            errors["reg_id_type_for_payee_id"] = general
        message = _("The settings were not saved: fix the fields marked below.")
        if general and "reg_id_type_for_payee_id" not in errors:
            message += f" {general}"
        return _page(
            request,
            session,
            visitor,
            program,
            values={**_shown_values(session, visitor, program), **values},
            errors=errors,
            message=message,
            status=422,
        )
    return redirect(f"/programs/{program.id}/manager", _("Payment manager settings saved."))


def _submitted(form: FormData) -> dict[str, Any]:
    """The settings the form carries; a field it does not carry keeps its stored value.

    A checkbox comes with a hidden "0" before it, so an unticked box still says "off"."""
    values: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        given = [v for v in form.getlist(name) if isinstance(v, str)]
        if not given:
            continue
        if setting.widget == "checkbox":
            values[name] = given[-1] == "1"
            continue
        text = given[-1].strip()
        values[name] = None if not text and setting.nullable else text
    return values


@router.post("/programs/{program_id}/manager/test")
def test_connection(
    request: Request, session: DbSession, visitor: Acting, program_id: str
) -> Response:
    """Fetch a token from the hub with the saved settings; say exactly what failed."""
    program = load_program(session, program_id)
    result = check_connection(session, visitor.user, program)
    message = "; ".join((*result.warnings, result.message))
    return _page(request, session, visitor, program, message=message, outcome=result.result)
