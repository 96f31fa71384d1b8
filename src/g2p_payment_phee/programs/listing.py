"""Pages of a cycle's entitlements for the API and the pages, keyset-paginated by id.

With a state filter the ``(cycle_id, state, id)`` index serves the filter and the order at
once; without one PostgreSQL walks the primary key while the cycle holds most rows.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, joinedload

from g2p_payment_phee.keyset import as_uuid, page_from_rows, read_cursor
from g2p_payment_phee.pagination import DEFAULT_LIMIT, Page, check_limit
from g2p_payment_phee.programs.models import Entitlement
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize


def list_entitlements(
    session: Session,
    actor: User,
    cycle_id: uuid.UUID,
    *,
    state: EntitlementState | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[Entitlement]:
    """One page of a cycle's entitlements (with their registrant), by id."""
    authorize(actor, Permission.VIEW)
    check_limit(limit)
    query = (
        select(Entitlement)
        .options(joinedload(Entitlement.registrant))
        .where(*entitlement_conditions(cycle_id, state))
    )
    key = read_cursor(cursor, as_uuid)
    if key is not None:
        query = query.where(Entitlement.id > key[0])
    rows = session.scalars(query.order_by(Entitlement.id).limit(limit + 1)).all()
    return page_from_rows(rows, limit, lambda e: [str(e.id)])


def entitlement_conditions(
    cycle_id: uuid.UUID, state: EntitlementState | None
) -> list[ColumnElement[bool]]:
    """The filters of a cycle's entitlements list, shared with its export."""
    conditions = [Entitlement.cycle_id == cycle_id]
    if state is not None:
        conditions.append(Entitlement.state == state)
    return conditions
