"""phee_defaults; payment_manager_configs remember their last connection test

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 09:00:00

``phee_defaults`` holds the hub-wide PHEE settings a new PHEE manager starts from (one row,
kept to one by the unique ``scope``), its secrets encrypted like a manager's. Each payment
manager remembers its last test connection: when, its result (ok, warning or failed) and what
it said. Existing managers start untested.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "phee_defaults",
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("secrets_encrypted", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phee_defaults")),
        sa.UniqueConstraint("scope", name=op.f("uq_phee_defaults_scope")),
    )
    with op.batch_alter_table("payment_manager_configs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "check_result",
                sa.Enum(
                    "ok", "warning", "failed", name="checkresult", native_enum=False, length=30
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("check_message", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment_manager_configs", schema=None) as batch_op:
        batch_op.drop_column("check_message")
        batch_op.drop_column("check_result")
        batch_op.drop_column("checked_at")
    op.drop_table("phee_defaults")
