"""cycles: the entitlements' totals per state, written at approval

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 08:55:00

Once a cycle is approved nothing changes its entitlements, so their counts and amounts per
state are written then, and the cycle page and API read them instead of grouping up to a
million entitlements on every view. Cycles approved before this revision keep ``NULL``: their
totals are counted as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entitlement_totals", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.drop_column("entitlement_totals")
