"""payments: a cancelled payment is not live

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 21:30:00

An issued payment that cannot have reached the hub may be cancelled (``payments.cancel``): its
state becomes ``cancelled`` and it stops being the entitlement's live payment, so the
entitlement is payable again. The check that keeps ``live`` true to a payment's state and
status now reads the state too. Downgrading refuses while cancelled payments exist (older code
knows no such state).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = "ck_payments_live_iff_not_failed"
BEFORE = "live = (status IS NULL OR status <> 'failed')"
AFTER = "live = (state <> 'cancelled' AND (status IS NULL OR status <> 'failed'))"


def _replace_check(text: str) -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CHECK), type_="check")
        batch_op.create_check_constraint(op.f(CHECK), sa.text(text))


def upgrade() -> None:
    _replace_check(AFTER)


def downgrade() -> None:
    cancelled = op.get_bind().execute(
        sa.text("SELECT count(*) FROM payments WHERE state = 'cancelled'")
    )
    if cancelled.scalar():
        raise RuntimeError(
            "payments holds cancelled payments, which the previous version cannot read; "
            "downgrading would lose them"
        )
    _replace_check(BEFORE)
