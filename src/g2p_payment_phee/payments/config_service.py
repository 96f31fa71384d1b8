"""Configure a program's payment manager; show its settings; test it; list every program's;
build the manager to use.

A manager configured for the first time (or switched to another kind) starts from its kind's
defaults (the hub-wide PHEE defaults for ``phee``) for each setting and secret not given.
Settings are validated as a whole on every save (a partial update is merged first). Secrets are
write-only: a new value replaces the stored one, an empty string clears it, ``None`` keeps it;
they are stored encrypted and shown back only as "set" / "not set".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import ConfigurationError, FieldError, G2PError, ValidationFailed
from g2p_payment_phee.i18n import _, lazy_gettext
from g2p_payment_phee.payments.manager import ManagerKindSpec, PaymentManager, kind_spec
from g2p_payment_phee.payments.models import CheckResult, PaymentManagerConfig
from g2p_payment_phee.programs.models import ManagerKind, Program
from g2p_payment_phee.security import decrypt_secret, encrypt_secret
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

SET, NOT_SET = "set", "not set"


def configure_manager(
    session: Session,
    actor: User,
    program: Program,
    kind: ManagerKind,
    settings: dict[str, Any],
    secrets: dict[str, str | None] | None = None,
) -> PaymentManagerConfig:
    """Create or update the program's manager; refuses invalid settings with per-field errors."""
    authorize(actor, Permission.MANAGE_SETTINGS)
    spec = kind_spec(kind)
    row = _config_row(session, program)
    if row is not None and row.kind is kind:
        merged, stored, from_defaults = dict(row.settings), _stored_secrets(row), []
    else:  # a new manager of this kind starts from the kind's defaults
        merged, stored = spec.defaults(session) if spec.defaults else ({}, {})
        taken = [name for name in merged if name not in settings]
        taken += [name for name in stored if (secrets or {}).get(name) is None]
        from_defaults = sorted(taken)
    merged.update(settings)
    valid = _validated(spec.settings_model, merged, "settings")
    changes = _apply_secret_changes(stored, secrets or {}, spec)
    _validated(spec.secrets_model, stored, "secrets")
    spec.build(program, valid, spec.secrets_model.model_validate(stored)).validate_configuration(
        session
    )
    if row is None:
        row = PaymentManagerConfig(program_id=program.id, kind=kind, name="", settings={})
        session.add(row)
    before = dict(row.settings)
    row.kind = kind
    row.settings = valid.model_dump(mode="json")
    row.name = str(row.settings.get("name", spec.label))
    row.secrets_encrypted = _encrypt(stored) if stored else None
    program.manager_kind = kind
    session.flush()
    changed = {k: v for k, v in row.settings.items() if before.get(k) != v}
    audit.record(
        session,
        actor,
        AuditAction.MANAGER_CONFIGURED,
        program,
        {"kind": kind, "changed": changed, "secrets": changes, "from_defaults": from_defaults},
    )
    return row


@dataclass(frozen=True)
class ConnectionCheck:
    """What testing a program's connection found: ``result`` ok, warning (the hub answered but
    a setting will not work there; ``warnings`` say which) or failed; ``message`` either way,
    ``error`` (with its own HTTP status and exit code) when it failed."""

    result: CheckResult
    message: str
    warnings: tuple[str, ...] = ()
    error: G2PError | None = None

    @property
    def ok(self) -> bool:
        """The hub answered as it should (warnings aside)."""
        return self.error is None


def check_connection(session: Session, actor: User, program: Program) -> ConnectionCheck:
    """Test the program's manager with its saved settings (a token and harmless reads at a
    hub), as an admin; the result is kept on the manager (``list_managers`` shows it) and
    audited either way. The read transaction is ended first: no database transaction stays
    open while the hub is called."""
    authorize(actor, Permission.MANAGE_SETTINGS)
    manager = load_manager(session, program)
    session.commit()
    try:
        report = manager.test_connection()
    except G2PError as error:
        found = ConnectionCheck(CheckResult.FAILED, error.message, error=error)
    else:
        result = CheckResult.WARNING if report.warnings else CheckResult.OK
        found = ConnectionCheck(result, report.summary, report.warnings)
    row = _require_row(session, program)
    row.checked_at = utcnow()
    row.check_result = found.result
    row.check_message = "; ".join((*found.warnings, found.message))
    details = {
        "ok": found.ok,
        "result": found.result,
        "warnings": list(found.warnings),
        "error": found.error.code if found.error else None,
    }
    audit.record(session, actor, AuditAction.MANAGER_CONNECTION_TESTED, program, details)
    return found


@dataclass(frozen=True)
class ManagerSummary:
    """One program's payment manager in the list of every program's: its kind (and the kind's
    label), the hub it pays through (None: nowhere, or not configured), its last test."""

    program: Program
    kind: ManagerKind
    label: str
    configured: bool
    hub: str | None
    checked_at: datetime | None
    check_result: CheckResult | None
    check_message: str | None


def list_managers(session: Session, actor: User) -> list[ManagerSummary]:
    """Every program's payment manager, by program name (one query)."""
    authorize(actor, Permission.VIEW)
    query = (
        select(Program, PaymentManagerConfig)
        .outerjoin(PaymentManagerConfig, PaymentManagerConfig.program_id == Program.id)
        .order_by(Program.name)
    )
    return [_summary(program, row) for program, row in session.execute(query).tuples()]


def _summary(program: Program, row: PaymentManagerConfig | None) -> ManagerSummary:
    kind = row.kind if row is not None else program.manager_kind
    spec = kind_spec(kind)
    hub = spec.hub(row.settings) if row is not None and spec.hub else None
    return ManagerSummary(
        program=program,
        kind=kind,
        label=spec.label,
        configured=row is not None,
        hub=hub,
        checked_at=row.checked_at if row is not None else None,
        check_result=row.check_result if row is not None else None,
        check_message=row.check_message if row is not None else None,
    )


def describe_manager(session: Session, actor: User, program: Program) -> dict[str, Any]:
    """The manager's kind and settings, each secret only as "set"/"not set"."""
    authorize(actor, Permission.VIEW)
    row = _require_row(session, program)
    spec = kind_spec(row.kind)
    stored = _stored_secrets(row)
    secrets = {name: SET if stored.get(name) else NOT_SET for name in spec.secret_fields}
    return {"kind": row.kind.value, "settings": dict(row.settings), "secrets": secrets}


def load_manager(session: Session, program: Program) -> PaymentManager:
    """The program's configured manager, ready to use (secrets decrypted in memory only)."""
    row = _require_row(session, program)
    spec = kind_spec(row.kind)
    try:
        settings = spec.settings_model.model_validate(row.settings)
        secrets = spec.secrets_model.model_validate(_stored_secrets(row))
    except ValidationError as error:
        raise ConfigurationError(
            _(
                "the stored {kind} manager settings of {name!r} are no longer valid: "
                "{field_errors}; configure the manager again"
            ).format(
                kind=row.kind, name=program.name, field_errors=field_errors(error, "settings")[0]
            )
        ) from None
    manager = spec.build(program, settings, secrets)
    manager.validate_configuration(session)
    return manager


def _config_row(session: Session, program: Program) -> PaymentManagerConfig | None:
    query = select(PaymentManagerConfig).where(PaymentManagerConfig.program_id == program.id)
    return session.scalar(query)


def _require_row(session: Session, program: Program) -> PaymentManagerConfig:
    row = _config_row(session, program)
    if row is None:
        raise ConfigurationError(
            _(
                "program {name!r} has no payment manager configured: g2p-phee managers "
                "configure {name!r} …"
            ).format(name=program.name)
        )
    return row


def _validated(model: type[BaseModel], values: dict[str, Any], what: str) -> BaseModel:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        errors = field_errors(error, what)
        raise ValidationFailed(
            _("invalid manager {what}: {problems}").format(
                what=what, problems="; ".join(map(str, errors))
            ),
            errors,
        ) from None


# pydantic's messages ("Input should be greater than or equal to 1") in plain words, by type
PLAIN_REASONS = {
    "missing": lazy_gettext("required"),
    "greater_than_equal": lazy_gettext("must be at least {ge}"),
    "greater_than": lazy_gettext("must be more than {gt}"),
    "less_than_equal": lazy_gettext("must be at most {le}"),
    "less_than": lazy_gettext("must be less than {lt}"),
    "int_parsing": lazy_gettext("must be a whole number"),
    "int_type": lazy_gettext("must be a whole number"),
    "int_from_float": lazy_gettext("must be a whole number"),
    "float_parsing": lazy_gettext("must be a number"),
    "decimal_parsing": lazy_gettext("must be a number"),
    "bool_parsing": lazy_gettext("must be yes or no"),
    "string_too_short": lazy_gettext("must be at least {min_length} characters"),
    "string_too_long": lazy_gettext("must be at most {max_length} characters"),
    "string_type": lazy_gettext("must be text"),
    "literal_error": lazy_gettext("must be one of: {expected}"),
    "enum": lazy_gettext("must be one of: {expected}"),
    "url_parsing": lazy_gettext("must be a web address such as https://hub.example.org"),
    "url_scheme": lazy_gettext("must be a web address starting with {expected_schemes}"),
    "extra_forbidden": lazy_gettext("not a setting of this kind"),
}


def plain_reason(problem: Mapping[str, Any]) -> str:
    """One pydantic problem in plain words (its own words when it has none here)."""
    template = PLAIN_REASONS.get(str(problem.get("type", "")))
    if template is None:
        return str(problem.get("msg", "")).removeprefix("Value error, ")
    try:
        return str(template).format(**dict(problem.get("ctx") or {}))
    except (KeyError, IndexError):
        return str(problem.get("msg", ""))


def field_errors(error: ValidationError, what: str) -> list[FieldError]:
    """Each problem pydantic found, as the field it is in and why, in plain words (``what`` for
    the whole)."""
    found = []
    for problem in error.errors():
        name = ".".join(str(p) for p in problem["loc"]) or what
        found.append(FieldError(name, plain_reason(problem)))
    return found


def _apply_secret_changes(
    stored: dict[str, str], changes: dict[str, str | None], spec: ManagerKindSpec
) -> dict[str, str]:
    """Apply write-only changes in place; returns what happened to each, without values."""
    unknown = sorted(set(changes) - set(spec.secret_fields))
    if unknown:
        raise ValidationFailed(
            _("unknown secret(s) for a {kind} manager: {unknown}").format(
                kind=spec.kind, unknown=", ".join(unknown)
            )
        )
    return merge_secret_changes(stored, changes)


def merge_secret_changes(stored: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """Write-only secret changes into ``stored``, in place: None keeps a secret, "" clears it,
    any other text sets it. Returns what happened to each ("set" / "cleared"), never a value."""
    happened: dict[str, str] = {}
    for name, value in changes.items():
        if value is None:
            continue
        if value == "":
            stored.pop(name, None)
            happened[name] = "cleared"
        else:
            stored[name] = value
            happened[name] = "set"
    return happened


def _stored_secrets(row: PaymentManagerConfig) -> dict[str, str]:
    if not row.secrets_encrypted:
        return {}
    data = json.loads(decrypt_secret(get_settings().secret(), row.secrets_encrypted))
    return {str(k): str(v) for k, v in data.items()}


def _encrypt(secrets: dict[str, str]) -> str:
    return encrypt_secret(get_settings().secret(), json.dumps(secrets, sort_keys=True))
