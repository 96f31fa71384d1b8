"""What each export holds: its columns, and its rows read with the filters of its page.

Every kind reads with the conditions its list uses (``registry.listing``, ``programs.listing``,
``payments.listing``, ``audit_log``), so a download holds what the page shows, every page of
it. Rows are read in keyset chunks of ``CHUNK`` along a unique key an index serves (the same
order as the page), as plain columns rather than ORM objects: memory stays flat, and no chunk
makes the database skip rows, at a million rows as at ten.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.audit_log import event_conditions
from g2p_payment_phee.errors import NotFound
from g2p_payment_phee.exports.formats import Cell, Column
from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import minor_digits
from g2p_payment_phee.payments.listing import payment_conditions
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.programs.listing import entitlement_conditions
from g2p_payment_phee.programs.models import Cycle, Entitlement
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.registry.listing import registrant_conditions
from g2p_payment_phee.registry.models import Phone, Registrant, RegistrantKind

CHUNK = 1000
Key = Sequence[InstrumentedAttribute[Any]]


class ExportKind(StrEnum):
    """What can be exported: each is a list the UI, the API and the CLI show."""

    REGISTRANTS = "registrants"
    ENTITLEMENTS = "entitlements"
    PAYMENTS = "payments"
    AUDIT = "audit"


@dataclass(frozen=True)
class RegistrantFilters:
    """The registrants list's filters: ``q`` (reference prefix, part of the name, an ID value
    or phone number) and the registrant's kind."""

    q: str | None = None
    kind: RegistrantKind | None = None


@dataclass(frozen=True)
class EntitlementFilters:
    """A cycle's entitlements, optionally in one state."""

    cycle_id: uuid.UUID
    state: EntitlementState | None = None


@dataclass(frozen=True)
class PaymentFilters:
    """The payments list's filters; a ``status`` implies the state ``reconciled``."""

    cycle_id: uuid.UUID | None = None
    batch_id: uuid.UUID | None = None
    state: PaymentState | None = None
    status: PaymentStatus | None = None


@dataclass(frozen=True)
class AuditFilters:
    """The audit log's filters, each an exact match (``actor``: the acting user's name)."""

    action: str | None = None
    actor: str | None = None
    subject_type: str | None = None
    subject_id: uuid.UUID | None = None


Filters = RegistrantFilters | EntitlementFilters | PaymentFilters | AuditFilters


@dataclass(frozen=True)
class Table:
    """An export ready to write: its columns and its rows, read as they are written."""

    kind: ExportKind
    columns: tuple[Column, ...]
    rows: Iterator[Sequence[Cell]]


def table_for(session: Session, filters: Filters) -> Table:
    """The table ``filters`` select; NotFound for an entitlements export of no cycle."""
    if isinstance(filters, RegistrantFilters):
        return Table(ExportKind.REGISTRANTS, REGISTRANT_COLUMNS, _registrants(session, filters))
    if isinstance(filters, EntitlementFilters):
        if session.get(Cycle, filters.cycle_id) is None:
            raise NotFound(_("no cycle {cycle_id}").format(cycle_id=filters.cycle_id))
        return Table(ExportKind.ENTITLEMENTS, ENTITLEMENT_COLUMNS, _entitlements(session, filters))
    if isinstance(filters, PaymentFilters):
        return Table(ExportKind.PAYMENTS, PAYMENT_COLUMNS, _payments(session, filters))
    return Table(ExportKind.AUDIT, AUDIT_COLUMNS, _events(session, filters))


def _chunks(
    session: Session, statement: Select[Any], key: Key, *, descending: bool = False
) -> Iterator[Sequence[Row[Any]]]:
    """``statement``'s rows in chunks, ordered by ``key`` (unique), which is added to each row.

    Like the pages' cursors, each chunk's condition bounds the leading key column on its own,
    so that the index range itself starts after the last row read."""
    keyed = statement.add_columns(*(column.label(f"key_{n}") for n, column in enumerate(key)))
    order = [column.desc() if descending else column for column in key]
    last: Sequence[Any] | None = None
    while True:
        query = keyed if last is None else keyed.where(_after(key, last, descending))
        rows = session.execute(query.order_by(*order).limit(CHUNK)).all()
        if rows:
            yield rows
        if len(rows) < CHUNK:
            return
        last = rows[-1][-len(key) :]


def _after(key: Key, last: Sequence[Any], descending: bool) -> ColumnElement[bool]:
    """Rows after ``last`` in the order of ``key``."""
    lead, value = key[0], last[0]
    beyond: ColumnElement[bool] = lead < value if descending else lead > value
    if len(key) == 1:
        return beyond
    bound = lead <= value if descending else lead >= value
    tie = and_(lead == value, _after(key[1:], last[1:], descending))
    return and_(bound, or_(beyond, tie))


@lru_cache(maxsize=64)
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_digits(currency))


def _amount(value: Decimal | None, currency: str) -> Decimal | None:
    """An amount at its currency's precision (``1500.00`` KES, ``1500`` JPY)."""
    return None if value is None else value.quantize(_quantum(currency))


REGISTRANT_COLUMNS = (
    Column("reference", 16),
    Column("kind", 10),
    Column("name", 30),
    Column("given_name", 18),
    Column("family_name", 18),
    Column("birthdate", 12),
    Column("gender", 10),
    Column("phone", 18),
    Column("email", 28),
    Column("address", 30),
    Column("active", 8),
    Column("created_at (UTC)", 20),
    Column("updated_at (UTC)", 20),
)


def _registrants(session: Session, filters: RegistrantFilters) -> Iterator[Sequence[Cell]]:
    r = Registrant
    statement = select(
        r.id, r.reference, r.kind, r.name, r.given_name, r.family_name, r.birthdate, r.gender,
        r.email, r.address, r.active, r.created_at, r.updated_at,
    ).where(*registrant_conditions(filters.q, filters.kind))  # fmt: skip
    for rows in _chunks(session, statement, [r.reference]):
        phones = _phones(session, [row.id for row in rows])
        for row in rows:
            yield (
                row.reference, row.kind, row.name, row.given_name, row.family_name,
                row.birthdate, row.gender, phones.get(row.id), row.email, row.address,
                row.active, row.created_at, row.updated_at,
            )  # fmt: skip


def _phones(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The enabled phone numbers of a chunk of registrants, ``;``-separated as the import
    takes them, in their order."""
    found: dict[uuid.UUID, list[str]] = {}
    query = (
        select(Phone.registrant_id, Phone.number)
        .where(Phone.registrant_id.in_(ids), Phone.disabled_at.is_(None))
        .order_by(Phone.registrant_id, Phone.sequence, Phone.id)
    )
    for registrant_id, number in session.execute(query):
        found.setdefault(registrant_id, []).append(number)
    return {registrant_id: ";".join(numbers) for registrant_id, numbers in found.items()}


ENTITLEMENT_COLUMNS = (
    Column("code", 24),
    Column("registrant_reference", 16),
    Column("registrant_name", 30),
    Column("amount", 14),
    Column("transfer_fee", 12),
    Column("currency", 9),
    Column("valid_from", 12),
    Column("valid_until", 12),
    Column("state", 18),
    Column("created_at (UTC)", 20),
)


def _entitlements(session: Session, filters: EntitlementFilters) -> Iterator[Sequence[Cell]]:
    e = Entitlement
    columns = (
        e.code, Registrant.reference, Registrant.name, e.initial_amount, e.transfer_fee,
        e.currency, e.valid_from, e.valid_until, e.state, e.created_at,
    )  # fmt: skip
    statement = (
        select(*columns)
        .join(Registrant, Registrant.id == e.registrant_id)
        .where(*entitlement_conditions(filters.cycle_id, filters.state))
    )
    for rows in _chunks(session, statement, [e.id]):
        for row in rows:
            money = row.currency
            yield (
                row.code, row.reference, row.name, _amount(row.initial_amount, money),
                _amount(row.transfer_fee, money), money, row.valid_from, row.valid_until,
                row.state, row.created_at,
            )  # fmt: skip


PAYMENT_COLUMNS = (
    Column("request_id", 38),
    Column("cycle", 14),
    Column("batch", 8),
    Column("batch_row", 10),
    Column("registrant_reference", 16),
    Column("registrant_name", 30),
    Column("payee_id_type", 14),
    Column("payee_id_value", 26),
    Column("amount_issued", 14),
    Column("payment_fee", 12),
    Column("currency", 9),
    Column("state", 12),
    Column("status", 10),
    Column("amount_paid", 14),
    Column("failure_reason", 40),
    Column("phee_transaction_id", 38),
    Column("created_at (UTC)", 20),
    Column("sent_at (UTC)", 20),
    Column("settled_at (UTC)", 20),
)


def _payments(session: Session, filters: PaymentFilters) -> Iterator[Sequence[Cell]]:
    p, f = Payment, filters
    columns = (
        p.id, Cycle.name.label("cycle"), PaymentBatch.sequence, p.batch_row,
        Registrant.reference, Registrant.name, p.payee_id_type, p.payee_id_value,
        p.amount_issued, p.payment_fee, p.currency, p.state, p.status, p.amount_paid,
        p.failure_reason, p.phee_transaction_id, p.created_at, p.sent_at, p.settled_at,
    )  # fmt: skip
    statement = (
        select(*columns)
        .join(Cycle, Cycle.id == p.cycle_id)
        .outerjoin(PaymentBatch, PaymentBatch.id == p.batch_id)
        .outerjoin(Registrant, Registrant.id == p.registrant_id)
        .where(*payment_conditions(f.cycle_id, f.batch_id, f.state, f.status))
    )
    # within a batch, the file's order (as the batch's page lists them); otherwise by id
    key = [p.batch_row, p.id] if f.batch_id is not None else [p.id]
    for rows in _chunks(session, statement, key):
        for row in rows:
            money = row.currency
            yield (
                str(row.id), row.cycle, row.sequence, row.batch_row, row.reference, row.name,
                row.payee_id_type, row.payee_id_value, _amount(row.amount_issued, money),
                _amount(row.payment_fee, money), money, row.state, row.status,
                _amount(row.amount_paid, money), row.failure_reason, row.phee_transaction_id,
                row.created_at, row.sent_at, row.settled_at,
            )  # fmt: skip


AUDIT_COLUMNS = (
    Column("created_at (UTC)", 20),
    Column("user", 14),
    Column("action", 28),
    Column("subject_type", 16),
    Column("subject_id", 38),
    Column("data", 60),
)


def _events(session: Session, filters: AuditFilters) -> Iterator[Sequence[Cell]]:
    a, f = AuditEvent, filters
    statement = select(
        a.created_at, a.actor_name, a.action, a.subject_type, a.subject_id, a.data
    ).where(*event_conditions(f.action, f.actor, f.subject_type, f.subject_id))
    # newest first, as the audit log's page shows them
    for rows in _chunks(session, statement, [a.created_at, a.id], descending=True):
        for row in rows:
            subject = None if row.subject_id is None else str(row.subject_id)
            data = json.dumps(row.data or {}, sort_keys=True, ensure_ascii=False)
            yield (row.created_at, row.actor_name, row.action, row.subject_type, subject, data)
