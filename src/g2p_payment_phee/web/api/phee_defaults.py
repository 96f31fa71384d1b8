"""``/phee-defaults``: the hub-wide PHEE defaults a new PHEE manager starts from (admins).

The secrets (``password``, ``authorization``) are write-only: ``PUT`` takes new values (an
empty string clears one, a missing or null one is kept); answers show each as "set" / "not set".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from g2p_payment_phee.phee import defaults
from g2p_payment_phee.web.api.managers import SecretValue
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/phee-defaults", tags=["payment manager"])


def _settings_help() -> str:
    lines = [
        "Defaults to change (merged with the stored ones, then validated; each bad one is "
        'named and nothing is saved). null or "" unsets one. The keys:'
    ]
    lines += [f"- `{name}` — {defaults.setting_title(name)}" for name in defaults.DEFAULT_SETTINGS]
    return "\n".join(lines)


class PheeDefaultsUpdate(BaseModel):
    """Changed hub-wide PHEE defaults."""

    settings: dict[str, Any] = Field(default_factory=dict, description=_settings_help())
    secrets: dict[str, SecretValue] = Field(
        default_factory=dict,
        description=(
            "Write-only: "
            + ", ".join(f"`{name}`" for name in defaults.DEFAULT_SECRETS)
            + '. A value sets it, "" clears it, null or absent keeps it.'
        ),
    )


class PheeDefaultsPublic(BaseModel):
    """Every default setting (null: not set) and each secret only as set / not set."""

    settings: dict[str, str | None]
    secrets: dict[str, Literal["set", "not set"]]
    updated_at: datetime | None


@router.get("")
def read_defaults(user: ApiUser, session: DbSession) -> PheeDefaultsPublic:
    """The hub-wide PHEE defaults (admins)."""
    return PheeDefaultsPublic.model_validate(defaults.show_defaults(session, user))


@router.put("")
def update_defaults(
    body: PheeDefaultsUpdate, user: ApiUser, session: DbSession
) -> PheeDefaultsPublic:
    """Change the hub-wide PHEE defaults (admins); existing managers keep their settings."""
    found = defaults.set_defaults(session, user, body.settings, body.secrets)
    return PheeDefaultsPublic.model_validate(found)
