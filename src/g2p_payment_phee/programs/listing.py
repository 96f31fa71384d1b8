"""Pages of a cycle's entitlements for the API and the pages, read as a table (``tables.py``).

Two orders, both ways: ``created`` (the id: time-ordered) and ``code``. With a state filter the
``(cycle_id, state, id)`` index serves the filter and the id order at once; without one
PostgreSQL walks the primary key while the cycle holds most rows. ``(cycle_id, code)`` serves the
code order. A search finds the entitlement by its code (unique index) or the cycle's
entitlements of the registrants it names (``registry.listing.registrants_matching``) through
the unique ``(cycle_id, registrant_id)`` key.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, joinedload

from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.keyset import as_str, as_uuid
from g2p_payment_phee.pagination import DEFAULT_LIMIT
from g2p_payment_phee.programs.models import Cycle, Entitlement
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.registry.listing import registrants_matching
from g2p_payment_phee.tables import Order, PageRequest, Sorting, TablePage, read_page
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

ENTITLEMENT_SORTING = Sorting(
    orders=(
        Order("created", (Entitlement.id,), (as_uuid,)),
        Order("code", (Entitlement.code,), (as_str,)),
    ),
    default="created",
)


def list_entitlements(
    session: Session,
    actor: User,
    cycle_id: uuid.UUID,
    *,
    state: EntitlementState | None = None,
    search: str | None = None,
    page: PageRequest | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> TablePage[Entitlement]:
    """One page of a cycle's entitlements (with their registrant) and their count; ``search``
    is an entitlement code or a registrant's name (its start), reference, phone or ID number."""
    authorize(actor, Permission.VIEW)
    request = page or PageRequest(cursor=cursor, limit=limit)
    conditions = entitlement_conditions(cycle_id, state)
    if search and search.strip():
        conditions.append(entitlement_search(session, cycle_id, search))
    query = select(Entitlement).options(joinedload(Entitlement.registrant)).where(*conditions)
    count = select(Entitlement.id).where(*conditions)
    return read_page(session, query, ENTITLEMENT_SORTING, request, count=count)


def entitlement_conditions(
    cycle_id: uuid.UUID, state: EntitlementState | None
) -> list[ColumnElement[bool]]:
    """The filters of a cycle's entitlements list, shared with its export."""
    conditions = [Entitlement.cycle_id == cycle_id]
    if state is not None:
        conditions.append(Entitlement.state == state)
    return conditions


def entitlement_search(session: Session, cycle_id: uuid.UUID, text: str) -> ColumnElement[bool]:
    """The cycle's entitlements ``text`` names: the one with that code, else those of the
    registrants it names; each through an index (an OR of both could not be)."""
    text = text.strip()
    code = select(Entitlement.id).where(Entitlement.code == text, Entitlement.cycle_id == cycle_id)
    if session.scalar(code) is not None:
        return Entitlement.code == text
    return Entitlement.registrant_id.in_(registrants_matching(text))


def find_cycle(session: Session, actor: User, text: str) -> Cycle:
    """The cycle ``text`` names: its id, or its name (unique within a program). An unknown or
    ambiguous name is a ValidationFailed on ``cycle`` saying so, for the filter to show."""
    authorize(actor, Permission.VIEW)
    text = text.strip()
    try:
        cycle = session.get(Cycle, uuid.UUID(text))
    except ValueError:
        cycle = None
    if cycle is not None:
        return cycle
    named = list(session.scalars(select(Cycle).where(Cycle.name == text).limit(10)))
    if len(named) == 1:
        return named[0]
    if not named:
        reason = _("no cycle is named {name!r}; pick one from the list").format(name=text)
    else:
        programs = ", ".join(sorted(each.program.name for each in named))
        reason = _("several programs have a cycle named {name!r} ({programs}); give its id").format(
            name=text, programs=programs
        )
    raise ValidationFailed(_("no such cycle"), [FieldError("cycle", reason)])


def cycle_choices(session: Session, actor: User, limit: int = 200) -> list[Cycle]:
    """The newest cycles (with their program), for a filter to offer by name."""
    authorize(actor, Permission.VIEW)
    query = select(Cycle).options(joinedload(Cycle.program)).order_by(Cycle.id.desc())
    return list(session.scalars(query.limit(limit)))
