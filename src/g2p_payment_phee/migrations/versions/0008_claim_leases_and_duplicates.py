"""payment_batches: claim leases, attempt times, duplicates at the hub; duplicate_payments

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 16:00:00

A hub may store an upload after the client gave up on it, so the latest moment each batch's
upload may have started is kept (``last_attempt_at``): the hub's silence about a batch proves
its absence only once the quiet period after that moment has passed. A send's claim carries a
lease its process renews (``lease_until``) and the state it came from (``claimed_from``), so a
claim whose process died is resolved when the lease lapses instead of after a fixed wait.
``phee_duplicate_ids`` holds the other PHEE batches the hub keeps under a batch's correlation
id, and ``duplicate_payments`` the payments the hub's records show paid more than once.
Batches left ``sending`` by an older version have no lease: they are resolved as lapsed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = ("prepared", "sending", "submitted", "completed", "rejected", "outcome_unknown")


def upgrade() -> None:
    with op.batch_alter_table("payment_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        state = sa.Enum(*_STATES, name="batchstate", native_enum=False, length=30)
        batch_op.add_column(sa.Column("claimed_from", state, nullable=True))
        batch_op.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("phee_duplicate_ids", sa.JSON(), nullable=True))
    op.create_table(
        "duplicate_payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("cycle_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("correlation_id", sa.String(length=36), nullable=False),
        sa.Column("times_paid", sa.Integer(), nullable=False),
        sa.Column("amount_paid", sa.Numeric(precision=24, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("occurrences", sa.JSON(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("acknowledged_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_payments")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_duplicate_payments_payment_id")),
    )
    op.create_index("ix_duplicate_payments_cycle", "duplicate_payments", ["cycle_id"])


def downgrade() -> None:
    op.drop_index("ix_duplicate_payments_cycle", table_name="duplicate_payments")
    op.drop_table("duplicate_payments")
    with op.batch_alter_table("payment_batches", schema=None) as batch_op:
        batch_op.drop_column("phee_duplicate_ids")
        batch_op.drop_column("last_attempt_at")
        batch_op.drop_column("claimed_from")
        batch_op.drop_column("lease_until")
