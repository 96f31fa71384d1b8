"""G2P Connect senders (the MIS allowed to call us) and what they sent: transactions, messages
and records (docs/g2p-connect.md).

Naming: ``G2PConnectSender.sender_id`` and ``G2PConnectTransaction.transaction_id`` are the
*wire* identifiers (text, as the MIS writes them); in the child tables ``sender_id`` and
``txn_id`` are foreign keys (UUIDs) to those rows.

Idempotency lives in unique constraints, so that two concurrent identical requests cannot both
insert: one message per (sender, message_id), one transaction per (sender, transaction_id), and
one *accepted* record per (sender, reference_id) (records rejected at receipt are kept too, to
be reported, and may repeat a reference).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from g2p_payment_phee.db import Base, StrEnumType
from g2p_payment_phee.programs.models import Program

ACCEPTED_RECORD = "receipt_status = 'rcvd'"


class ReceiptStatus(StrEnum):
    """How a record was received: accepted (``rcvd``, to be paid) or rejected (``rjct``)."""

    RECEIVED = "rcvd"
    REJECTED = "rjct"


class G2PConnectSender(Base):
    """An MIS registered to send disbursements for one program, paid by its payment manager.

    The client secret is stored only as its SHA-256 (it is a random token, shown once); the
    secret of the sender's own token endpoint (for our callbacks) is encrypted at rest."""

    __tablename__ = "g2p_connect_senders"

    sender_id: Mapped[str] = mapped_column(String(100), unique=True)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"), index=True)
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    callback_url: Mapped[str | None] = mapped_column(String(2000))
    public_key_pem: Mapped[str | None] = mapped_column(Text)
    auto_approve: Mapped[bool] = mapped_column(default=False)
    # Approves, prepares and sends the sender's cycles when ``auto_approve`` is on.
    service_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    token_url: Mapped[str | None] = mapped_column(String(2000))
    token_client_id: Mapped[str | None] = mapped_column(String(200))
    token_client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None]

    program: Mapped[Program] = relationship()

    @property
    def enabled(self) -> bool:
        """Whether the sender may still get tokens and send."""
        return self.disabled_at is None


class G2PConnectTransaction(Base):
    """One ``transaction_id`` of a sender: it becomes one cycle of the sender's program.

    ``cycle_id`` is set once its records are in the domain (``intake_done_at``)."""

    __tablename__ = "g2p_connect_transactions"
    __table_args__ = (UniqueConstraint("sender_id", "transaction_id"),)

    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("g2p_connect_senders.id"))
    transaction_id: Mapped[str] = mapped_column(String(100))
    cycle_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cycles.id"), index=True)
    # header.sender_uri of the disburse that brought it; None: the sender's registered URL
    callback_url: Mapped[str | None] = mapped_column(String(2000))
    version: Mapped[str] = mapped_column(String(20))
    # whether the results go back by callback (async disburse) or were answered (sync)
    wants_callback: Mapped[bool] = mapped_column(default=True)
    intake_done_at: Mapped[datetime | None]
    intake_error: Mapped[str | None] = mapped_column(Text)

    sender: Mapped[G2PConnectSender] = relationship()


class G2PConnectMessage(Base):
    """A disburse message received from a sender, with the answer it got: the same
    ``message_id`` received again gets this answer again, and nothing else happens."""

    __tablename__ = "g2p_connect_messages"
    __table_args__ = (UniqueConstraint("sender_id", "message_id"),)

    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("g2p_connect_senders.id"))
    message_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    txn_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("g2p_connect_transactions.id"), index=True
    )
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)


class G2PConnectRecord(Base):
    """One disbursement record as received, and what became of it: an entitlement (accepted)
    or a rejection reason. ``notified_status`` is the status last told to the sender by a
    callback (None: never told)."""

    __tablename__ = "g2p_connect_records"
    __table_args__ = (
        Index(
            "uq_g2p_connect_records_sender_reference",
            "sender_id",
            "reference_id",
            unique=True,
            postgresql_where=text(ACCEPTED_RECORD),
            sqlite_where=text(ACCEPTED_RECORD),
        ),
        Index("ix_g2p_connect_records_txn_row", "txn_id", "row"),
        Index("ix_g2p_connect_records_entitlement", "entitlement_id"),
    )

    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("g2p_connect_senders.id"))
    txn_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("g2p_connect_transactions.id"))
    row: Mapped[int]  # position in the message that brought it
    reference_id: Mapped[str] = mapped_column(String(100))
    entitlement_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entitlements.id"))
    payee_fa: Mapped[str] = mapped_column(String(400))
    payer_fa: Mapped[str | None] = mapped_column(String(400))
    payee_name: Mapped[str | None] = mapped_column(String(300))
    amount: Mapped[str] = mapped_column(String(40))  # as received
    currency_code: Mapped[str | None] = mapped_column(String(10))
    receipt_status: Mapped[ReceiptStatus] = mapped_column(StrEnumType(ReceiptStatus))
    reason_code: Mapped[str | None] = mapped_column(String(60))
    reason_message: Mapped[str | None] = mapped_column(Text)
    notified_status: Mapped[str | None] = mapped_column(String(10))
