"""payment_manager_configs: existing PHEE managers keep writing phones as +E.164

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 10:00:00

The PHEE manager setting ``msisdn_format`` (SPEC 3.1) decides how a phone payee is written in
the batch file: ``digits`` (``254712000101``, the default of a new manager) or ``e164``
(``+254712000101``, what every manager wrote before the setting existed). Each stored PHEE
manager without the setting gets ``e164``, so it keeps writing what it wrote until someone
changes it. Downgrading removes the setting again (older code refuses unknown settings).
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "msisdn_format"
_configs = sa.table(
    "payment_manager_configs",
    sa.column("id", sa.Uuid()),
    sa.column("kind", sa.String(30)),
    sa.column("settings", sa.JSON()),
)


def _rewrite(change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_configs.c.id, _configs.c.settings).where(_configs.c.kind == "phee")
    ).all()
    for config_id, settings in rows:
        updated = change(dict(settings or {}))
        if updated is not None:
            connection.execute(
                sa.update(_configs).where(_configs.c.id == config_id).values(settings=updated)
            )


def _keep_e164(settings: dict[str, Any]) -> dict[str, Any] | None:
    return None if KEY in settings else {**settings, KEY: "e164"}


def _forget(settings: dict[str, Any]) -> dict[str, Any] | None:
    return {k: v for k, v in settings.items() if k != KEY} if KEY in settings else None


def upgrade() -> None:
    _rewrite(_keep_e164)


def downgrade() -> None:
    _rewrite(_forget)
