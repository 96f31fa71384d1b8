"""The append-only audit log: every state change, import and settings change writes one event.

Nothing in the product updates or deletes an event; the migration adds database triggers that
refuse UPDATE and DELETE on the table, so even a mistaken query cannot rewrite history.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from g2p_payment_phee.db import Base

if TYPE_CHECKING:
    from g2p_payment_phee.users.models import User


class AuditEvent(Base):
    """One thing that happened: who, what, to which subject, with which details."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject", "subject_type", "subject_id"),
        Index("ix_audit_events_created_at", "created_at"),
    )

    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(150))
    action: Mapped[str] = mapped_column(String(100), index=True)
    subject_type: Mapped[str | None] = mapped_column(String(60))
    subject_id: Mapped[uuid.UUID | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditAction(StrEnum):
    """Every kind of audit event: ``<subject>.<what happened>``. A state change is
    ``<entity>.<new state>`` (``AuditAction.moved``); a test checks every state has its member."""

    API_TOKEN_CREATED = "api_token.created"  # noqa: S105 (an action, not a secret)
    API_TOKEN_REVOKED = "api_token.revoked"  # noqa: S105 (an action, not a secret)
    BATCH_CALLBACK = "batch.callback"
    BATCH_CANCELLED = "batch.cancelled"
    BATCH_COMPLETED = "batch.completed"
    BATCH_DUPLICATED_AT_HUB = "batch.duplicated_at_hub"
    BATCH_FILE_RENDERED = "batch.file_rendered"
    BATCH_OUTCOME_UNKNOWN = "batch.outcome_unknown"
    BATCH_PREPARED = "batch.prepared"
    BATCH_REJECTED = "batch.rejected"
    BATCH_SENDING = "batch.sending"
    BATCH_SUBMITTED = "batch.submitted"
    BATCH_SYNCED = "batch.synced"
    CYCLE_APPROVED = "cycle.approved"
    CYCLE_CANCELLED = "cycle.cancelled"
    CYCLE_CREATED = "cycle.created"
    CYCLE_DISTRIBUTED = "cycle.distributed"
    CYCLE_DRAFT = "cycle.draft"
    CYCLE_ENDED = "cycle.ended"
    CYCLE_PAID_TWICE_ACKNOWLEDGED = "cycle.paid_twice_acknowledged"
    CYCLE_TO_APPROVE = "cycle.to_approve"
    ENTITLEMENT_APPROVED = "entitlement.approved"
    ENTITLEMENT_CANCELLED = "entitlement.cancelled"
    ENTITLEMENT_DRAFT = "entitlement.draft"
    ENTITLEMENT_EXPIRED = "entitlement.expired"
    ENTITLEMENT_PENDING_VALIDATION = "entitlement.pending_validation"
    ENTITLEMENT_REJECTED = "entitlement.rejected"
    ENTITLEMENTS_APPROVED = "entitlements.approved"
    ENTITLEMENTS_CANCELLED = "entitlements.cancelled"
    ENTITLEMENTS_DRAFT = "entitlements.draft"
    ENTITLEMENTS_EXPIRED = "entitlements.expired"
    ENTITLEMENTS_GENERATED = "entitlements.generated"
    ENTITLEMENTS_IMPORTED = "entitlements.imported"
    ENTITLEMENTS_PENDING_VALIDATION = "entitlements.pending_validation"
    ENTITLEMENTS_REJECTED = "entitlements.rejected"
    EXPORT_WRITTEN = "export.written"
    G2P_CONNECT_DISBURSE_RECEIVED = "g2p_connect.disburse_received"
    G2P_CONNECT_SENDER_CREATED = "g2p_connect_sender.created"
    G2P_CONNECT_SENDER_DISABLED = "g2p_connect_sender.disabled"
    ID_TYPE_CREATED = "id_type.created"
    ID_TYPE_DISABLED = "id_type.disabled"
    JOB_FAILED = "job.failed"
    JOB_REQUEUED = "job.requeued"
    JOB_SUBMITTED = "job.submitted"
    JOB_SUCCEEDED = "job.succeeded"
    MANAGER_CONFIGURED = "manager.configured"
    MANAGER_CONNECTION_TESTED = "manager.connection_tested"
    PAYMENT_PAID_TWICE = "payment.paid_twice"
    PAYMENTS_BATCHED = "payments.batched"
    PAYMENTS_CANCELLED = "payments.cancelled"
    PAYMENTS_PREPARED = "payments.prepared"
    PAYMENTS_RESULTS_IMPORTED = "payments.results_imported"
    PHEE_DEFAULTS_CHANGED = "phee_defaults.changed"
    PROGRAM_CREATED = "program.created"
    PROGRAM_ENROLLED = "program.enrolled"
    REGISTRANT_BANK_ACCOUNT_ADDED = "registrant.bank_account_added"
    REGISTRANT_CREATED = "registrant.created"
    REGISTRANT_ID_SET = "registrant.id_set"
    REGISTRANT_MEMBER_ADDED = "registrant.member_added"
    REGISTRANT_PHONE_ADDED = "registrant.phone_added"
    REGISTRANT_PHONE_DISABLED = "registrant.phone_disabled"
    REGISTRANT_PHONE_ENABLED = "registrant.phone_enabled"
    REGISTRANT_UPDATED = "registrant.updated"
    REGISTRY_IMPORTED = "registry.imported"
    USER_CREATED = "user.created"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    USER_PASSWORD_CHANGED = "user.password_changed"  # noqa: S105 (an action, not a secret)
    USER_PASSWORD_RESET = "user.password_reset"  # noqa: S105 (an action, not a secret)
    USER_SIGNED_IN = "user.signed_in"
    USER_SIGNED_OUT = "user.signed_out"

    @classmethod
    def moved(cls, entity: str, state: str) -> AuditAction:
        """The action of ``entity`` reaching ``state`` (ValueError for a move nobody declared)."""
        return cls(f"{entity}.{state}")


SYSTEM_ACTOR = "system"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def record(
    session: Session,
    actor: User | None,
    action: AuditAction,
    subject: Base | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event (flushed with the caller's transaction, never committed here)."""
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        actor_name=actor.username if actor is not None else SYSTEM_ACTOR,
        action=action,
        subject_type=type(subject).__tablename__ if subject is not None else None,
        subject_id=subject.id if subject is not None else None,
        data=_jsonable(data or {}),
    )
    session.add(event)
    return event


def record_many(
    session: Session,
    actor: User | None,
    action: AuditAction,
    subject_type: str,
    events: Iterable[tuple[uuid.UUID, dict[str, Any]]],
) -> int:
    """Append one event per (subject id, data), in one bulk INSERT (set-based state changes)."""
    rows = [
        {
            "actor_id": actor.id if actor is not None else None,
            "actor_name": actor.username if actor is not None else SYSTEM_ACTOR,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "data": _jsonable(data),
        }
        for subject_id, data in events
    ]
    if rows:
        session.execute(insert(AuditEvent), rows)
    return len(rows)


def events_for(session: Session, subject: Base) -> list[AuditEvent]:
    """The subject's events, oldest first."""
    query = (
        select(AuditEvent)
        .where(
            AuditEvent.subject_type == type(subject).__tablename__,
            AuditEvent.subject_id == subject.id,
        )
        .order_by(AuditEvent.created_at, AuditEvent.id)
    )
    return list(session.scalars(query))
