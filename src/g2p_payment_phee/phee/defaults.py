"""The hub-wide PHEE defaults (admins): what a new PHEE manager starts from.

Most programs pay through one hub, so its URLs, tenant, sign-in and payment mode are kept once
here; a program's PHEE manager configured for the first time takes each of them that it is not
given (``payments.config_service.configure_manager`` asks the kind's spec). Changing the
defaults changes no existing manager. The secrets (password, authorization) are write-only like
a manager's: stored encrypted, shown only as "set" / "not set"; a new value replaces one, an
empty string clears it, ``None`` keeps it. A setting given as ``None`` or "" is no longer a
default.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.config_service import (
    NOT_SET,
    SET,
    field_errors,
    merge_secret_changes,
)
from g2p_payment_phee.phee.models import HUB_SCOPE, PheeDefaults
from g2p_payment_phee.phee.settings import (
    PheeSecrets,
    PheeSettings,
    check_csv_safe,
    check_header_safe,
    check_url,
)
from g2p_payment_phee.security import decrypt_secret, encrypt_secret
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

URL_SETTINGS = (
    "auth_endpoint_url",
    "payment_endpoint_url",
    "status_endpoint_url",
    "details_endpoint_url",
    "callback_base_url",
)
DEFAULT_SECRETS = ("password", "authorization")


class HubDefaults(BaseModel):
    """The settings a new PHEE manager takes from the hub-wide defaults; each may be unset
    (``None``), and each set one is validated as the manager's own setting is."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    auth_endpoint_url: str | None = None
    payment_endpoint_url: str | None = None
    status_endpoint_url: str | None = None
    details_endpoint_url: str | None = None
    callback_base_url: str | None = None
    tenant_id: Annotated[str | None, Field(max_length=100)] = None
    username: str | None = None
    grant_type: str | None = None
    payment_mode: Annotated[str | None, Field(max_length=50)] = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(*URL_SETTINGS)
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return check_url(value, required=False)

    @field_validator("tenant_id")
    @classmethod
    def _header(cls, value: str | None) -> str | None:
        return None if value is None else check_header_safe(value)

    @field_validator("payment_mode")
    @classmethod
    def _csv(cls, value: str | None) -> str | None:
        return None if value is None else check_csv_safe(value)


DEFAULT_SETTINGS = tuple(HubDefaults.model_fields)


def setting_title(name: str) -> str:
    """The label of a default: the manager setting's own."""
    return PheeSettings.model_fields[name].title or name


def secret_title(name: str) -> str:
    """The label of a default secret: the manager secret's own."""
    return PheeSecrets.model_fields[name].title or name


def show_defaults(session: Session, actor: User) -> dict[str, Any]:
    """Every default setting (``None`` when unset) and each secret only as "set"/"not set"."""
    authorize(actor, Permission.MANAGE_SETTINGS)
    return _described(_row(session))


def set_defaults(
    session: Session,
    actor: User,
    settings: dict[str, Any],
    secrets: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Change the defaults: ``settings`` merged over the stored ones and validated as a whole
    (every bad field named, nothing written); secrets changed as write-only. Audited without
    secret values."""
    authorize(actor, Permission.MANAGE_SETTINGS)
    row = _row(session)
    stored = dict(row.settings) if row is not None else {}
    valid = _validated({**stored, **settings})
    kept = _stored_secrets(row)
    changes = _apply_secrets(kept, secrets or {})
    if row is None:
        row = PheeDefaults(scope=HUB_SCOPE, settings={})
        session.add(row)
    row.settings = {k: v for k, v in valid.model_dump().items() if v is not None}
    row.secrets_encrypted = _encrypt(kept) if kept else None
    session.flush()
    changed = {
        name: row.settings.get(name)
        for name in DEFAULT_SETTINGS
        if row.settings.get(name) != stored.get(name)
    }
    data = {"changed": changed, "secrets": changes}
    audit.record(session, actor, AuditAction.PHEE_DEFAULTS_CHANGED, row, data)
    return _described(row)


def new_manager_defaults(session: Session) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings and secrets a PHEE manager configured for the first time starts from
    (only those set); read by the configuring service, which has authorised its actor."""
    row = _row(session)
    if row is None:
        return {}, {}
    return dict(row.settings), _stored_secrets(row)


def _row(session: Session) -> PheeDefaults | None:
    return session.scalar(select(PheeDefaults).where(PheeDefaults.scope == HUB_SCOPE))


def _described(row: PheeDefaults | None) -> dict[str, Any]:
    stored = dict(row.settings) if row is not None else {}
    secrets = _stored_secrets(row)
    return {
        "settings": {name: stored.get(name) for name in DEFAULT_SETTINGS},
        "secrets": {name: SET if secrets.get(name) else NOT_SET for name in DEFAULT_SECRETS},
        "updated_at": row.updated_at if row is not None else None,
    }


def _validated(values: dict[str, Any]) -> HubDefaults:
    try:
        return HubDefaults.model_validate(values)
    except ValidationError as error:
        errors = field_errors(error, "settings")
        raise ValidationFailed(
            _("invalid PHEE defaults: {problems}").format(problems="; ".join(map(str, errors))),
            errors,
        ) from None


def _apply_secrets(stored: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """Apply write-only changes in place (validated as the manager's secrets are); what
    happened to each, without values."""
    unknown = sorted(set(changes) - set(DEFAULT_SECRETS))
    if unknown:
        allowed = ", ".join(DEFAULT_SECRETS)
        raise ValidationFailed(
            _("unknown default secret(s): {unknown} (the defaults keep {allowed})").format(
                unknown=", ".join(unknown), allowed=allowed
            ),
            [
                FieldError(
                    name, _("not a default secret (one of {allowed})").format(allowed=allowed)
                )
                for name in unknown
            ],
        )
    happened = merge_secret_changes(stored, changes)
    try:
        PheeSecrets.model_validate(stored)
    except ValidationError as error:
        errors = field_errors(error, "secrets")
        raise ValidationFailed(
            _("invalid PHEE default secrets: {problems}").format(
                problems="; ".join(map(str, errors))
            ),
            errors,
        ) from None
    return happened


def _stored_secrets(row: PheeDefaults | None) -> dict[str, str]:
    if row is None or not row.secrets_encrypted:
        return {}
    data = json.loads(decrypt_secret(get_settings().secret(), row.secrets_encrypted))
    return {str(k): str(v) for k, v in data.items()}


def _encrypt(secrets: dict[str, str]) -> str:
    return encrypt_secret(get_settings().secret(), json.dumps(secrets, sort_keys=True))
