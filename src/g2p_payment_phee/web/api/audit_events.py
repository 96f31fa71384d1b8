"""``/audit-events``: the append-only audit log, newest first, with filters."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query

from g2p_payment_phee.audit_log import list_events
from g2p_payment_phee.pagination import DEFAULT_LIMIT
from g2p_payment_phee.web.api.schemas import Limit, PublicModel
from g2p_payment_phee.web.api.tables import Paging, TablePublic, table_of
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/audit-events", tags=["audit"])


class AuditEventPublic(PublicModel):
    """Who did what to which subject, when, with which details."""

    id: uuid.UUID
    created_at: datetime
    actor_id: uuid.UUID | None
    actor_name: str
    action: str
    subject_type: str | None
    subject_id: uuid.UUID | None
    data: dict[str, Any]


class AuditEventsPublic(TablePublic[AuditEventPublic]):
    """A page of audit events, newest first (``sort=created``: oldest first)."""


@router.get("")
def search_events(
    user: ApiUser,
    session: DbSession,
    paging: Paging,
    action: str | None = Query(None, max_length=100, examples=["batch.submitted"]),
    actor: str | None = Query(None, max_length=150, description="The acting user's name"),
    subject_type: str | None = Query(None, max_length=60, examples=["cycles"]),
    subject_id: uuid.UUID | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> AuditEventsPublic:
    """A page of audit events with their count (every filter is an exact match)."""
    page = list_events(
        session,
        user,
        action=action,
        actor_name=actor,
        subject_type=subject_type,
        subject_id=subject_id,
        page=paging.sized(limit),
    )
    items = [AuditEventPublic.model_validate(e) for e in page.items]
    return AuditEventsPublic.model_validate(table_of(items, page))
