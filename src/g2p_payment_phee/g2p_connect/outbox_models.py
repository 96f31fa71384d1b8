"""The callback outbox: each ``on-disburse`` callback owed to a sender, written in the same
database transaction that marks its records as told (``G2PConnectRecord.notified_status``), so
that a crash can neither lose a change nor tell it twice; then delivered, retried with backoff,
until the sender ACKs it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from g2p_payment_phee.db import Base, StrEnumType

PENDING_CALLBACK = "state = 'pending'"


class CallbackState(StrEnum):
    """Where a callback is: ``pending`` until the sender ACKs it (``delivered``) or it failed
    so often that it is given up (``given_up``, kept with its last error)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    GIVEN_UP = "given_up"


class G2PConnectCallback(Base):
    """One callback owed to a sender: its exact body (the same bytes on every attempt, under
    one ``message_id``), and its delivery so far.

    ``sequence`` orders the callbacks of a transaction: a callback is sent only once every
    earlier one of its transaction is delivered or given up, so that a sender never sees a
    record go back from ``succ`` to ``pdng``. ``claimed_by`` and ``lease_until`` make one
    delivery attempt at a time: a claim whose lease lapsed (its process died) is taken again.
    """

    __tablename__ = "g2p_connect_callbacks"
    __table_args__ = (
        UniqueConstraint("txn_id", "sequence"),
        Index(
            "ix_g2p_connect_callbacks_due",
            "next_attempt_at",
            postgresql_where=text(PENDING_CALLBACK),
            sqlite_where=text(PENDING_CALLBACK),
        ),
    )

    txn_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("g2p_connect_transactions.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(30))
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    record_count: Mapped[int] = mapped_column(Integer)
    state: Mapped[CallbackState] = mapped_column(
        StrEnumType(CallbackState), default=CallbackState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
