"""Reading the audit log: pages of events, newest first, with filters (API and pages).

Ordered by ``(created_at, id)`` descending; the created_at index serves the order and the
cursor bound, the action and subject indexes serve those filters.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.keyset import as_utc, as_uuid, page_from_rows, read_cursor
from g2p_payment_phee.pagination import DEFAULT_LIMIT, Page, check_limit
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize


def list_events(
    session: Session,
    actor: User,
    *,
    action: str | None = None,
    actor_name: str | None = None,
    subject_type: str | None = None,
    subject_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[AuditEvent]:
    """One page of audit events, newest first; every filter is an exact match."""
    authorize(actor, Permission.VIEW)
    check_limit(limit)
    query = select(AuditEvent).where(
        *event_conditions(action, actor_name, subject_type, subject_id)
    )
    key = read_cursor(cursor, as_utc, as_uuid)
    if key is not None:
        moment, last_id = key
        query = query.where(
            AuditEvent.created_at <= moment,
            or_(
                AuditEvent.created_at < moment,
                and_(AuditEvent.created_at == moment, AuditEvent.id < last_id),
            ),
        )
    order = (AuditEvent.created_at.desc(), AuditEvent.id.desc())
    rows = session.scalars(query.order_by(*order).limit(limit + 1)).all()
    return page_from_rows(rows, limit, lambda e: [e.created_at.isoformat(), str(e.id)])


def event_conditions(
    action: str | None,
    actor_name: str | None,
    subject_type: str | None,
    subject_id: uuid.UUID | None,
) -> list[ColumnElement[bool]]:
    """The filters of the audit log, shared with its export; each an exact match."""
    conditions: list[ColumnElement[bool]] = []
    if action:
        conditions.append(AuditEvent.action == action)
    if actor_name:
        conditions.append(AuditEvent.actor_name == actor_name.strip().lower())
    if subject_type:
        conditions.append(AuditEvent.subject_type == subject_type)
    if subject_id is not None:
        conditions.append(AuditEvent.subject_id == subject_id)
    return conditions
