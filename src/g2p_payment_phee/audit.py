"""The append-only audit log: every state change, import and settings change writes one event.

Nothing in the product updates or deletes an event; the migration adds database triggers that
refuse UPDATE and DELETE on the table, so even a mistaken query cannot rewrite history.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
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
    action: str,
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
    action: str,
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
