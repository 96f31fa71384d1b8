"""The entitlements prepare could not pay, kept with the reason (``UnpayableEntitlement``).

Prepare skips an approved entitlement without a valid payee identifier, or with an amount the
manager's files cannot carry. Each skip is kept, one row per entitlement, replacing any earlier
one, so that the cycle's outcomes (``payments.outcomes``) and its reconciliation report name
these people and the reason long after the preparation. A row is dropped once its entitlement
has a live payment (a later prepare, after the registry was fixed, paid it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists
from sqlalchemy.orm import Session

from g2p_payment_phee.bulk import bulk_insert
from g2p_payment_phee.ids import new_id_texts
from g2p_payment_phee.payments.models import IS_LIVE, Payment, UnpayableEntitlement
from g2p_payment_phee.programs.models import Cycle

CHUNK = 1000
COLUMNS = ("id", "entitlement_id", "registrant_id", "reason")


def keep_unpayable(
    session: Session, cycle: Cycle, skipped: Sequence[tuple[Any, Any, str]], now: datetime
) -> None:
    """Keep why each (entitlement, registrant, reason) was skipped, replacing earlier reasons."""
    table = UnpayableEntitlement.__table__
    for start in range(0, len(skipped), CHUNK):
        chunk = skipped[start : start + CHUNK]
        ids = [str(eid) for eid, _, _ in chunk]
        session.execute(
            delete(UnpayableEntitlement)
            .where(UnpayableEntitlement.entitlement_id.in_(_uuids(ids)))
            .execution_options(synchronize_session=False)
        )
        rows = [
            (row_id, str(eid), str(rid), reason[:1000])
            for row_id, (eid, rid, reason) in zip(new_id_texts(len(chunk)), chunk, strict=True)
        ]
        bulk_insert(session, table, COLUMNS, rows, fixed={"cycle_id": cycle.id, "created_at": now})


def forget_paid_unpayable(session: Session, cycle: Cycle) -> None:
    """Drop the rows of entitlements that have a live payment now."""
    u = UnpayableEntitlement
    paid = exists().where(Payment.entitlement_id == u.entitlement_id, IS_LIVE)
    session.execute(
        delete(u).where(u.cycle_id == cycle.id, paid).execution_options(synchronize_session=False)
    )


def _uuids(texts: Sequence[str]) -> list[uuid.UUID]:
    return [uuid.UUID(text) for text in texts]
