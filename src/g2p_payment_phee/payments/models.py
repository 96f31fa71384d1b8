"""Payments, payment batches and the per-program payment-manager configuration (SPEC 2.3, 3.1)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from g2p_payment_phee.db import Base, Money, StrEnumType, utcnow
from g2p_payment_phee.payments.states import BatchState, PaymentState, PaymentStatus
from g2p_payment_phee.programs.models import Cycle, ManagerKind

# An entitlement has at most one payment that is not "reconciled as failed" or cancelled (SPEC
# 2.3). The unique index's predicate reads only ``live``, a column that changes at most once in a
# payment's life (when it fails for good or is cancelled), and a check keeps ``live`` true to
# state and status. So the frequent
# updates (issued → sent → paid) change no indexed column and PostgreSQL can make them HOT
# updates (no index writes), helped by the table's fillfactor (migrations 0004 and 0006).
LIVE_PAYMENT = "live"
LIVE_MATCHES_STATUS = (
    "live = (state <> 'cancelled' AND (status IS NULL OR status <> 'failed'))"  # migration 0013
)
FAILED_PAYMENT = "NOT live"
# For queries: the very terms of the index predicates (SQLite uses a partial index only when the
# query repeats its predicate; SQLAlchemy would write a boolean column as ``live = 1`` there).
IS_LIVE = text("payments.live")
IS_FAILED = text("NOT payments.live")


class CheckResult(StrEnum):
    """How a manager's last test connection ended."""

    OK = "ok"
    WARNING = "warning"  # reached, but something in the settings will not work
    FAILED = "failed"


class PaymentManagerConfig(Base):
    """The one payment manager of a program: its kind, settings and encrypted secrets, and
    what its last test connection found."""

    __tablename__ = "payment_manager_configs"

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"), unique=True)
    kind: Mapped[ManagerKind] = mapped_column(StrEnumType(ManagerKind))
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets_encrypted: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    checked_at: Mapped[datetime | None]
    check_result: Mapped[CheckResult | None] = mapped_column(StrEnumType(CheckResult))
    check_message: Mapped[str | None] = mapped_column(Text)


class PaymentBatch(Base):
    """Payments sent together as one PHEE bulk file; ``name`` is its UUID text."""

    __tablename__ = "payment_batches"
    __table_args__ = (
        UniqueConstraint("cycle_id", "sequence"),
        Index("ix_payment_batches_cycle_state", "cycle_id", "state"),
        # PHEE's callbacks find their batch by the hash of the token in the URL (0007).
        Index("uq_payment_batches_callback_token", "callback_token_hash", unique=True),
    )

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cycles.id"))
    sequence: Mapped[int]
    name: Mapped[str] = mapped_column(String(36), unique=True)
    correlation_id: Mapped[str] = mapped_column(String(36), unique=True)
    state: Mapped[BatchState] = mapped_column(StrEnumType(BatchState), default=BatchState.PREPARED)
    currency: Mapped[str] = mapped_column(String(3))
    file_name: Mapped[str] = mapped_column(String(255))
    csv_data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    csv_sha256: Mapped[str | None] = mapped_column(String(64))
    csv_size: Mapped[int | None]
    phee_batch_id: Mapped[str | None] = mapped_column(String(100), index=True)
    callback_token_hash: Mapped[str | None] = mapped_column(String(64))
    issued_count: Mapped[int] = mapped_column(default=0)
    issued_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    sent_count: Mapped[int] = mapped_column(default=0)
    sent_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    paid_count: Mapped[int] = mapped_column(default=0)
    paid_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    failed_count: Mapped[int] = mapped_column(default=0)
    failed_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    send_attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None]
    # The claim holds until ``lease_until`` unless its sending process renews it; a lapsed
    # claim goes back to ``claimed_from`` or, if its upload may have started, to
    # ``outcome_unknown`` (payments/resend.py).
    lease_until: Mapped[datetime | None]
    claimed_from: Mapped[BatchState | None] = mapped_column(StrEnumType(BatchState))
    # The latest moment an upload of this batch may have started (written before the upload,
    # then the true start with the answer, or the lapsed lease's end): absence at the hub
    # proves nothing until the quiet period after it has passed (SPEC 2.3).
    last_attempt_at: Mapped[datetime | None]
    # Other PHEE batches the hub holds under this batch's correlation id (SPEC 2.3).
    phee_duplicate_ids: Mapped[list[str] | None] = mapped_column(JSON)
    submitted_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_response: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    cycle: Mapped[Cycle] = relationship()


def _is_live(context: Any) -> bool:
    """A new payment is live unless it is written already failed (or cancelled)."""
    values = context.get_current_parameters()
    return (
        str(values.get("status")) != PaymentStatus.FAILED.value
        and str(values.get("state")) != PaymentState.CANCELLED.value
    )


class Payment(Base):
    """One attempt to pay one entitlement; ``id`` is also the PHEE ``request_id``.

    Payments are written a million at a time, so the table carries no foreign keys (each would
    cost a lookup and a row lock per payment): only ``prepare`` creates payments, in the same
    transaction that reads their entitlement and creates their batch, and nothing in the
    product deletes entitlements, cycles or batches. The rule that matters for money, one live
    payment per entitlement, is a unique index.
    """

    __tablename__ = "payments"
    __table_args__ = (
        Index(
            "uq_payments_live_entitlement",
            "entitlement_id",
            unique=True,
            postgresql_where=text(LIVE_PAYMENT),
            sqlite_where=text(LIVE_PAYMENT),
        ),
        Index("ix_payments_batch_row", "batch_id", "batch_row"),
        Index("ix_payments_cycle", "cycle_id"),
        # a person's payments (search by name, phone, ID); never updated, so HOT is kept
        Index("ix_payments_registrant", "registrant_id"),
        Index(
            "ix_payments_failed_entitlement",
            "entitlement_id",
            postgresql_where=text(FAILED_PAYMENT),
            sqlite_where=text(FAILED_PAYMENT),
        ),
        CheckConstraint(
            "(state = 'reconciled') = (status IS NOT NULL)", name="status_iff_reconciled"
        ),
        CheckConstraint(LIVE_MATCHES_STATUS, name="live_iff_not_failed"),
        CheckConstraint("amount_issued > 0", name="amount_positive"),
    )

    entitlement_id: Mapped[uuid.UUID]
    cycle_id: Mapped[uuid.UUID]
    registrant_id: Mapped[uuid.UUID]
    batch_id: Mapped[uuid.UUID | None]
    batch_row: Mapped[int | None]
    amount_issued: Mapped[Decimal] = mapped_column(Money())
    payment_fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3))
    payee_id_type: Mapped[str] = mapped_column(String(60))
    payee_id_value: Mapped[str] = mapped_column(String(320))
    state: Mapped[PaymentState] = mapped_column(
        StrEnumType(PaymentState), default=PaymentState.ISSUED
    )
    status: Mapped[PaymentStatus | None] = mapped_column(StrEnumType(PaymentStatus))
    live: Mapped[bool] = mapped_column(default=_is_live)
    amount_paid: Mapped[Decimal | None] = mapped_column(Money())
    sent_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(Text)
    phee_transaction_id: Mapped[str | None] = mapped_column(String(100))

    batch: Mapped[PaymentBatch | None] = relationship(
        primaryjoin="foreign(Payment.batch_id) == PaymentBatch.id"
    )

    @property
    def request_id(self) -> str:
        """The PHEE request_id (and clientCorrelationId) of this payment."""
        return str(self.id)


class DuplicatePayment(Base):
    """A payment the hub's own records show paid more than once, or paid by a PHEE batch other
    than the one it was recorded under (SPEC 2.3): which PHEE batches, amounts and transaction
    ids. Distribution waits until someone with the approver role acknowledges it."""

    __tablename__ = "duplicate_payments"
    __table_args__ = (Index("ix_duplicate_payments_cycle", "cycle_id"),)

    payment_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    cycle_id: Mapped[uuid.UUID]
    batch_id: Mapped[uuid.UUID]
    correlation_id: Mapped[str] = mapped_column(String(36))
    times_paid: Mapped[int]
    amount_paid: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    # [{"phee_batch_id", "amount", "transaction_id", "completed_at"}], one per completion
    occurrences: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None]
    acknowledged_reason: Mapped[str | None] = mapped_column(Text)


class UnpayableEntitlement(Base):
    """An approved entitlement the latest prepare of its cycle could not pay, and why (no valid
    payee identifier, an amount the hub cannot take): kept so that the cycle's outcomes name
    these people after the preparation too. Replaced when the entitlement is skipped again;
    outdated once it has a payment (outcomes then read the payment)."""

    __tablename__ = "unpayable_entitlements"
    __table_args__ = (Index("ix_unpayable_entitlements_cycle", "cycle_id"),)

    entitlement_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    cycle_id: Mapped[uuid.UUID]
    registrant_id: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(Text)
