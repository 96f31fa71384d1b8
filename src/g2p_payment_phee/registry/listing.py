"""Pages of registrants for the API and the pages: the search of ``service.search_registrants``
with keyset pages by reference (unique index) instead of page numbers and a total count, so a
page costs the same at the end of a million-row registry as at its start."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from g2p_payment_phee.keyset import as_str, page_from_rows, read_cursor
from g2p_payment_phee.pagination import DEFAULT_LIMIT, Page, check_limit
from g2p_payment_phee.registry.models import Registrant, RegistrantKind
from g2p_payment_phee.registry.service import _matches
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize


def list_registrants(
    session: Session,
    actor: User,
    *,
    query: str | None = None,
    kind: RegistrantKind | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[Registrant]:
    """One page of registrants by reference: all, or those matching ``query`` (reference prefix,
    name containing it, an exact ID value or phone number)."""
    authorize(actor, Permission.VIEW)
    check_limit(limit)
    statement = select(Registrant).where(*registrant_conditions(query, kind))
    key = read_cursor(cursor, as_str)
    if key is not None:
        statement = statement.where(Registrant.reference > key[0])
    rows = session.scalars(statement.order_by(Registrant.reference).limit(limit + 1)).all()
    return page_from_rows(rows, limit, lambda r: [r.reference])


def registrant_conditions(
    query: str | None, kind: RegistrantKind | None
) -> list[ColumnElement[bool]]:
    """The filters of the registrants list, shared with its export: ``query`` matched as a
    reference prefix, part of the name, an exact ID value or phone number; ``kind`` exactly."""
    conditions: list[ColumnElement[bool]] = []
    text = (query or "").strip()
    if text:
        conditions.append(or_(*_matches(text)))
    if kind is not None:
        conditions.append(Registrant.kind == kind)
    return conditions
