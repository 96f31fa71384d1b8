"""Pages of the audit log: newest first, each event once across pages, exact filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.audit_log import list_events
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.pagination import encode_cursor
from g2p_payment_phee.users.models import User


@pytest.fixture
def events(session: Session, admin: User, viewer: User) -> list[audit.AuditEvent]:
    """Nine events; three share one timestamp (the id breaks the tie)."""
    now = utcnow()
    rows = []
    for index in range(9):
        actor = admin if index % 2 == 0 else viewer
        action = AuditAction.USER_ENABLED if index % 2 else AuditAction.USER_CREATED
        event = audit.record(session, actor, action, admin)
        event.created_at = now - timedelta(seconds=index if index > 2 else 0)
        rows.append(event)
    session.commit()
    return rows


@pytest.mark.parametrize("limit", [1, 2, 4, 9, 10])
def test_newest_first_each_once(
    session: Session, viewer: User, events: list[audit.AuditEvent], limit: int
) -> None:
    seen, cursor = [], None
    while True:
        page = list_events(session, viewer, cursor=cursor, limit=limit)
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert {e.id for e in seen} == {e.id for e in events}
    assert len(seen) == len(events)
    keys = [(e.created_at, e.id) for e in seen]
    assert keys == sorted(keys, reverse=True)


def test_filters(
    session: Session, admin: User, viewer: User, events: list[audit.AuditEvent]
) -> None:
    def count(**filters) -> int:
        return len(list_events(session, viewer, limit=500, **filters).items)

    assert count(action="user.created") == 5
    assert count(actor_name="watcher") == 4
    assert count(actor_name=" Watcher ") == 4
    assert count(subject_type="users", subject_id=admin.id) == 9
    assert count(subject_id=viewer.id) == 0
    assert count(action="thing.even", actor_name="watcher") == 0


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        encode_cursor(["yesterday", "x"]),
        encode_cursor(["2026-01-01T00:00:00", "6b1a2c9e-7d4f-4a3b-9c2d-1e0f5a6b7c8d"]),
        encode_cursor([1, 2]),
    ],
)
def test_bad_cursor(session: Session, viewer: User, cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        list_events(session, viewer, cursor=cursor)
