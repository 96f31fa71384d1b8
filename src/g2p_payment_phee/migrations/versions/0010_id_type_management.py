"""id_types.disabled_at: ID types can be disabled

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 09:00:00

A disabled ID type takes no new registrant IDs (on import or by hand); the IDs it already has
stay. Every existing type starts enabled.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("id_types", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("id_types", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
