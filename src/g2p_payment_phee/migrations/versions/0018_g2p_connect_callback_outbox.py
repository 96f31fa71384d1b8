"""g2p_connect_callback_outbox: on-disburse callbacks owed to senders, until ACKed

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 00:45:00

Each callback owed to a G2P Connect sender is a row written in the same transaction that marks
its records as told (``g2p_connect_records.notified_status``), with its exact body and its
delivery so far (attempts, next attempt, lease, last error). A partial index finds the pending
ones that are due.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import g2p_payment_phee.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = g2p_payment_phee.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "g2p_connect_callbacks",
        sa.Column("txn_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "delivered",
                "given_up",
                name="callbackstate",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("lease_until", UTC, nullable=True),
        sa.Column("last_attempt_at", UTC, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", UTC, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["txn_id"],
            ["g2p_connect_transactions.id"],
            name=op.f("fk_g2p_connect_callbacks_txn_id_g2p_connect_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_g2p_connect_callbacks")),
        sa.UniqueConstraint("message_id", name=op.f("uq_g2p_connect_callbacks_message_id")),
        sa.UniqueConstraint(
            "txn_id", "sequence", name=op.f("uq_g2p_connect_callbacks_txn_id_sequence")
        ),
    )
    op.create_index(
        "ix_g2p_connect_callbacks_due",
        "g2p_connect_callbacks",
        ["next_attempt_at"],
        unique=False,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_g2p_connect_callbacks_due", table_name="g2p_connect_callbacks")
    op.drop_table("g2p_connect_callbacks")
