"""Pages of registrants for the API and the pages, and the search other lists share.

The registrants list is the search of ``service.search_registrants`` read as a table
(``tables.py``): sorted by reference (unique index) or name (``ix_registrants_name``, then id),
counted up to the cap, paged both ways, so a page costs the same at the end of a million-row
registry as at its start.

:func:`registrants_matching` finds the registrants a search text names, through indexes only:
the start of their name (any case; ``ix_registrants_name_prefix`` on PostgreSQL), their
reference, an ID number (``ix_registrant_ids_type_value``, one probe per ID type) or a phone
number read as the import reads it (``G2P_DEFAULT_PHONE_REGION``: ``0712 345 678`` is
``+254712345678`` in Kenya; ``ix_phones_number``). The lists of payments and entitlements
filter on it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, CompoundSelect, Select, func, or_, select, union
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.keyset import as_str, as_uuid
from g2p_payment_phee.pagination import DEFAULT_LIMIT
from g2p_payment_phee.registry import validation as v
from g2p_payment_phee.registry.models import IdType, Phone, Registrant, RegistrantId, RegistrantKind
from g2p_payment_phee.registry.service import _matches
from g2p_payment_phee.tables import Order, PageRequest, Sorting, TablePage, read_page
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

REGISTRANT_SORTING = Sorting(
    orders=(
        Order("reference", (Registrant.reference,), (as_str,)),
        Order("name", (Registrant.name, Registrant.id), (as_str, as_uuid)),
    ),
    default="reference",
)
NAME_PREFIX_MIN = 2  # one letter would name a tenth of the registry
NAME_MATCHES_MAX = 1_000  # people a name search reaches; more: type more of the name


def list_registrants(
    session: Session,
    actor: User,
    *,
    query: str | None = None,
    kind: RegistrantKind | None = None,
    page: PageRequest | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> TablePage[Registrant]:
    """One page of registrants: all, or those matching ``query`` (reference prefix, name
    containing it, an exact ID value or phone number), with their count."""
    authorize(actor, Permission.VIEW)
    request = page or PageRequest(cursor=cursor, limit=limit)
    conditions = registrant_conditions(query, kind)
    statement = select(Registrant).where(*conditions)
    count = select(Registrant.id).where(*conditions)
    return read_page(session, statement, REGISTRANT_SORTING, request, count=count)


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


def registrants_matching(text: str) -> CompoundSelect[tuple[uuid.UUID]]:
    """The ids of the registrants ``text`` names: by the start of their name (any case, at
    least two characters), their reference, an ID number or a phone number; each an index
    probe, so the set is found without reading the registry."""
    text = text.strip()
    found: list[Select[tuple[uuid.UUID]]] = [
        select(Registrant.id).where(Registrant.reference == text),
        select(RegistrantId.registrant_id).where(
            # the index leads with the type: one probe per type instead of a scan
            RegistrantId.id_type_id.in_(select(IdType.id)),
            RegistrantId.value == text,
        ),
    ]
    if len(text) >= NAME_PREFIX_MIN:
        # the first NAME_MATCHES_MAX the index gives: a search as broad as "pe" stays a few
        # index reads (``broad_name_search`` says so, for the page to ask for more of the name)
        first = _named(text).limit(NAME_MATCHES_MAX).subquery()
        found.append(select(first.c.id))
    number = _phone(text)
    if number is not None:
        found.append(select(Phone.registrant_id).where(Phone.number == number))
    return union(*found)


def broad_name_search(session: Session, text: str) -> bool:
    """Whether more than ``NAME_MATCHES_MAX`` names start with ``text`` (only the first of them
    by name are searched); one bounded index read."""
    text = text.strip()
    if len(text) < NAME_PREFIX_MIN:
        return False
    first = _named(text).limit(NAME_MATCHES_MAX + 1).subquery()
    return (session.scalar(select(func.count()).select_from(first)) or 0) > NAME_MATCHES_MAX


def _named(text: str) -> Select[tuple[uuid.UUID]]:
    """Registrants whose name starts with ``text``, any case."""
    pattern = _escape_like(text.lower()) + "%"
    return select(Registrant.id).where(func.lower(Registrant.name).like(pattern, escape="\\"))


def _phone(text: str) -> str | None:
    """``text`` as a stored phone number, when it reads as one."""
    if sum(char.isdigit() for char in text) < 6:
        return None
    try:
        return v.normalize_phone(text)
    except ValidationFailed:
        return None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
