"""g2p_connect: senders, and the transactions, messages and records they send

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 00:30:00

An MIS registered as a G2P Connect sender posts disbursements; each transaction becomes a cycle
of the sender's program and each accepted record an entitlement. Unique constraints make a
repeated message, transaction or reference harmless: one message per (sender, message_id), one
transaction per (sender, transaction_id), one accepted record per (sender, reference_id).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCEPTED_RECORD = "receipt_status = 'rcvd'"


def _keys() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "g2p_connect_senders",
        *_keys(),
        sa.Column("sender_id", sa.String(length=100), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("client_secret_hash", sa.String(length=64), nullable=False),
        sa.Column("callback_url", sa.String(length=2000), nullable=True),
        sa.Column("public_key_pem", sa.Text(), nullable=True),
        sa.Column("auto_approve", sa.Boolean(), nullable=False),
        sa.Column("service_user_id", sa.Uuid(), nullable=True),
        sa.Column("token_url", sa.String(length=2000), nullable=True),
        sa.Column("token_client_id", sa.String(length=200), nullable=True),
        sa.Column("token_client_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_g2p_connect_senders_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["service_user_id"],
            ["users.id"],
            name=op.f("fk_g2p_connect_senders_service_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_g2p_connect_senders")),
        sa.UniqueConstraint("sender_id", name=op.f("uq_g2p_connect_senders_sender_id")),
    )
    op.create_index(
        op.f("ix_g2p_connect_senders_program_id"), "g2p_connect_senders", ["program_id"]
    )
    op.create_table(
        "g2p_connect_transactions",
        *_keys(),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("transaction_id", sa.String(length=100), nullable=False),
        sa.Column("cycle_id", sa.Uuid(), nullable=True),
        sa.Column("callback_url", sa.String(length=2000), nullable=True),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("wants_callback", sa.Boolean(), nullable=False),
        sa.Column("intake_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("intake_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["cycles.id"], name=op.f("fk_g2p_connect_transactions_cycle_id_cycles")
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["g2p_connect_senders.id"],
            name=op.f("fk_g2p_connect_transactions_sender_id_g2p_connect_senders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_g2p_connect_transactions")),
        sa.UniqueConstraint(
            "sender_id",
            "transaction_id",
            name=op.f("uq_g2p_connect_transactions_sender_id_transaction_id"),
        ),
    )
    op.create_index(
        op.f("ix_g2p_connect_transactions_cycle_id"), "g2p_connect_transactions", ["cycle_id"]
    )
    op.create_table(
        "g2p_connect_messages",
        *_keys(),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("txn_id", sa.Uuid(), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["g2p_connect_senders.id"],
            name=op.f("fk_g2p_connect_messages_sender_id_g2p_connect_senders"),
        ),
        sa.ForeignKeyConstraint(
            ["txn_id"],
            ["g2p_connect_transactions.id"],
            name=op.f("fk_g2p_connect_messages_txn_id_g2p_connect_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_g2p_connect_messages")),
        sa.UniqueConstraint(
            "sender_id", "message_id", name=op.f("uq_g2p_connect_messages_sender_id_message_id")
        ),
    )
    op.create_index(op.f("ix_g2p_connect_messages_txn_id"), "g2p_connect_messages", ["txn_id"])
    op.create_table(
        "g2p_connect_records",
        *_keys(),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("txn_id", sa.Uuid(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("reference_id", sa.String(length=100), nullable=False),
        sa.Column("entitlement_id", sa.Uuid(), nullable=True),
        sa.Column("payee_fa", sa.String(length=400), nullable=False),
        sa.Column("payer_fa", sa.String(length=400), nullable=True),
        sa.Column("payee_name", sa.String(length=300), nullable=True),
        sa.Column("amount", sa.String(length=40), nullable=False),
        sa.Column("currency_code", sa.String(length=10), nullable=True),
        sa.Column(
            "receipt_status",
            sa.Enum("rcvd", "rjct", name="receiptstatus", native_enum=False, length=30),
            nullable=False,
        ),
        sa.Column("reason_code", sa.String(length=60), nullable=True),
        sa.Column("reason_message", sa.Text(), nullable=True),
        sa.Column("notified_status", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(
            ["entitlement_id"],
            ["entitlements.id"],
            name=op.f("fk_g2p_connect_records_entitlement_id_entitlements"),
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["g2p_connect_senders.id"],
            name=op.f("fk_g2p_connect_records_sender_id_g2p_connect_senders"),
        ),
        sa.ForeignKeyConstraint(
            ["txn_id"],
            ["g2p_connect_transactions.id"],
            name=op.f("fk_g2p_connect_records_txn_id_g2p_connect_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_g2p_connect_records")),
    )
    op.create_index(
        "uq_g2p_connect_records_sender_reference",
        "g2p_connect_records",
        ["sender_id", "reference_id"],
        unique=True,
        postgresql_where=sa.text(ACCEPTED_RECORD),
        sqlite_where=sa.text(ACCEPTED_RECORD),
    )
    op.create_index("ix_g2p_connect_records_txn_row", "g2p_connect_records", ["txn_id", "row"])
    op.create_index("ix_g2p_connect_records_entitlement", "g2p_connect_records", ["entitlement_id"])


def downgrade() -> None:
    op.drop_table("g2p_connect_records")
    op.drop_table("g2p_connect_messages")
    op.drop_table("g2p_connect_transactions")
    op.drop_table("g2p_connect_senders")
