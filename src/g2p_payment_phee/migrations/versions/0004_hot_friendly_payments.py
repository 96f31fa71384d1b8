"""payments: the live-payment rule on a column of its own, HOT-friendly indexes and fillfactor

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 01:10:00

A payment row is updated twice in its life (sent, then reconciled). Before this revision each
update changed an indexed column (``state`` in ``ix_payments_cycle_state``, ``state``/``status`` in
the predicate of ``uq_payments_live_entitlement``), so PostgreSQL rewrote every index entry of
the row. Now the live rule reads ``live``, which changes only when a payment fails for good (a
check keeps it true to ``status``), no index holds ``state`` or ``status``, and the table keeps
half of each page free so that the new versions of a batch's rows fit on their own pages: the
updates become HOT updates, without index writes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_LIVE = "NOT (state = 'reconciled' AND status = 'failed')"
LIVE = "live"
FAILED = "NOT live"
LIVE_MATCHES_STATUS = "live = (status IS NULL OR status <> 'failed')"
# A whole batch's rows are updated in one statement: with half of each page free, their new
# versions fit beside the old ones (HOT) until the old ones are pruned.
FILLFACTOR = 50


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("live", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.execute("UPDATE payments SET live = (status IS NULL OR status <> 'failed')")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column("live", server_default=None)
        batch_op.drop_index(
            "uq_payments_live_entitlement",
            postgresql_where=sa.text(OLD_LIVE),
            sqlite_where=sa.text(OLD_LIVE),
        )
        batch_op.drop_index("ix_payments_cycle_state")
        batch_op.create_check_constraint(
            op.f("ck_payments_live_iff_not_failed"), sa.text(LIVE_MATCHES_STATUS)
        )
        batch_op.create_index(
            "uq_payments_live_entitlement",
            ["entitlement_id"],
            unique=True,
            postgresql_where=sa.text(LIVE),
            sqlite_where=sa.text(LIVE),
        )
        batch_op.create_index("ix_payments_cycle", ["cycle_id"], unique=False)
        batch_op.create_index(
            "ix_payments_failed_entitlement",
            ["entitlement_id"],
            unique=False,
            postgresql_where=sa.text(FAILED),
            sqlite_where=sa.text(FAILED),
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE payments SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE payments RESET (fillfactor)")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_payments_failed_entitlement",
            postgresql_where=sa.text(FAILED),
            sqlite_where=sa.text(FAILED),
        )
        batch_op.drop_index("ix_payments_cycle")
        batch_op.drop_index(
            "uq_payments_live_entitlement",
            postgresql_where=sa.text(LIVE),
            sqlite_where=sa.text(LIVE),
        )
        batch_op.drop_constraint(op.f("ck_payments_live_iff_not_failed"), type_="check")
        batch_op.create_index(
            "ix_payments_cycle_state", ["cycle_id", "state", "status"], unique=False
        )
        batch_op.create_index(
            "uq_payments_live_entitlement",
            ["entitlement_id"],
            unique=True,
            postgresql_where=sa.text(OLD_LIVE),
            sqlite_where=sa.text(OLD_LIVE),
        )
        batch_op.drop_column("live")
