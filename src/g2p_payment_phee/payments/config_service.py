"""Configure a program's payment manager; show its settings; build the manager to use.

Settings are validated as a whole on every save (a partial update is merged first). Secrets are
write-only: a new value replaces the stored one, an empty string clears it, ``None`` keeps it;
they are stored encrypted and shown back only as "set" / "not set".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import ConfigurationError, FieldError, G2PError, ValidationFailed
from g2p_payment_phee.payments.manager import ManagerKindSpec, PaymentManager, kind_spec
from g2p_payment_phee.payments.models import PaymentManagerConfig
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
    merged = dict(row.settings) if row is not None and row.kind is kind else {}
    merged.update(settings)
    valid = _validated(spec.settings_model, merged, "settings")
    stored = _stored_secrets(row) if row is not None and row.kind is kind else {}
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
        {"kind": kind, "changed": changed, "secrets": changes},
    )
    return row


@dataclass(frozen=True)
class ConnectionCheck:
    """What testing a program's connection found: ``message`` either way, ``error`` (with its
    own HTTP status and exit code) when it failed."""

    ok: bool
    message: str
    error: G2PError | None = None


def check_connection(session: Session, actor: User, program: Program) -> ConnectionCheck:
    """Test the program's manager with its saved settings (a token and a harmless read at a
    hub), as an admin; audited either way. The read transaction is ended first: no database
    transaction stays open while the hub is called."""
    authorize(actor, Permission.MANAGE_SETTINGS)
    manager = load_manager(session, program)
    session.commit()
    try:
        found = ConnectionCheck(True, manager.test_connection())
    except G2PError as error:
        found = ConnectionCheck(False, error.message, error)
    details = {"ok": found.ok, "error": found.error.code if found.error else None}
    audit.record(session, actor, AuditAction.MANAGER_CONNECTION_TESTED, program, details)
    return found


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
            f"the stored {row.kind} manager settings of {program.name!r} are no longer valid: "
            f"{_errors(error, 'settings')[0]}; configure the manager again"
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
            f"program {program.name!r} has no payment manager configured: "
            f"g2p-phee managers configure {program.name!r} …"
        )
    return row


def _validated(model: type[BaseModel], values: dict[str, Any], what: str) -> BaseModel:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        errors = _errors(error, what)
        raise ValidationFailed(
            f"invalid manager {what}: " + "; ".join(map(str, errors)), errors
        ) from None


def _errors(error: ValidationError, what: str) -> list[FieldError]:
    found = []
    for problem in error.errors():
        name = ".".join(str(p) for p in problem["loc"]) or what
        found.append(FieldError(name, problem["msg"].removeprefix("Value error, ")))
    return found


def _apply_secret_changes(
    stored: dict[str, str], changes: dict[str, str | None], spec: ManagerKindSpec
) -> dict[str, str]:
    """Apply write-only changes in place; returns what happened to each, without values."""
    unknown = sorted(set(changes) - set(spec.secret_fields))
    if unknown:
        raise ValidationFailed(f"unknown secret(s) for a {spec.kind} manager: {', '.join(unknown)}")
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
