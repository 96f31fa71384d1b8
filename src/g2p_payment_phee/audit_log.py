"""Reading the audit log: pages of events, newest first, with filters (API and pages).

Ordered by ``(created_at, id)``, newest first or oldest first, a table page at a time
(``tables.py``); the created_at index serves the order and the cursor bound, the action and
subject indexes serve those filters. Nothing else sorts: the log grows without end and holds
no other index that keeps its order.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.keyset import as_utc, as_uuid
from g2p_payment_phee.pagination import DEFAULT_LIMIT
from g2p_payment_phee.tables import Order, PageRequest, Sorting, TablePage, read_page
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

AUDIT_SORTING = Sorting(
    orders=(Order("created", (AuditEvent.created_at, AuditEvent.id), (as_utc, as_uuid)),),
    default="-created",
)


def list_events(
    session: Session,
    actor: User,
    *,
    action: str | None = None,
    actor_name: str | None = None,
    subject_type: str | None = None,
    subject_id: uuid.UUID | None = None,
    page: PageRequest | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> TablePage[AuditEvent]:
    """One page of audit events, newest first unless asked otherwise, with their count; every
    filter is an exact match."""
    authorize(actor, Permission.VIEW)
    request = page or PageRequest(cursor=cursor, limit=limit)
    conditions = event_conditions(action, actor_name, subject_type, subject_id)
    query = select(AuditEvent).where(*conditions)
    count = select(AuditEvent.id).where(*conditions)
    return read_page(session, query, AUDIT_SORTING, request, count=count)


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
