"""unpayable_entitlements: who prepare could not pay, and why

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 21:40:00

Prepare skips an approved entitlement it cannot pay (no valid payee identifier, an amount the
hub cannot take). Until now the reason lived only in the preparation's report; it is now kept,
one row per entitlement (replaced when it is skipped again), so that a cycle's outcomes name
these people afterwards. Existing cycles start with none recorded.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unpayable_entitlements",
        sa.Column("entitlement_id", sa.Uuid(), nullable=False),
        sa.Column("cycle_id", sa.Uuid(), nullable=False),
        sa.Column("registrant_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unpayable_entitlements")),
        sa.UniqueConstraint(
            "entitlement_id", name=op.f("uq_unpayable_entitlements_entitlement_id")
        ),
    )
    op.create_index(
        "ix_unpayable_entitlements_cycle", "unpayable_entitlements", ["cycle_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_unpayable_entitlements_cycle", table_name="unpayable_entitlements")
    op.drop_table("unpayable_entitlements")
