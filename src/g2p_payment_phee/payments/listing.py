"""Pages of payments and batches for the API and the pages: keyset-paginated, fast at 1,000,000.

No page makes the database skip rows (no OFFSET) and no page counts the whole list (counts
stop at ``tables.COUNT_CAP``). Each list is ordered, both ways, by a unique key an index serves:

- a batch's payments in file order, ``(batch_id, batch_row)``: ``ix_payments_batch_row``;
- other payment lists by ``id`` (the payment UUID, time-ordered, so also the order payments
  were made in): the primary key, with the cycle filter
  from the cycle index (PostgreSQL walks the primary key and stops after one page while the
  cycle holds most rows, or reads the cycle's rows and keeps the top of them when it is small);
- a cycle's batches by ``sequence``: the unique ``(cycle_id, sequence)`` constraint.

Every keyset condition repeats a plain bound on the leading sort column, so that the index
range itself starts at the cursor (a row comparison alone would be a filter on PostgreSQL).

No index holds a payment's state (payments are updated in place, HOT, see migration 0004), so a
state filter that matches few of a million payments would read them all. Unreconciled payments
are only ever in a few batch states (``HELD_IN``): ``issued`` ones are in no batch or in a batch
not handed over yet, ``sent`` ones in a submitted batch. When there are few such batches they are
looked up first and the payments read through the batch index.

Payments sort by nothing else: an index on a column that changes (sent, settled) would stop
updates being HOT, and amounts within a cycle are mostly equal. A search goes through
``ix_payments_registrant`` from the registrants it names (``registry.listing``).
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from g2p_payment_phee.keyset import as_int, as_uuid, page_from_rows, read_cursor
from g2p_payment_phee.pagination import DEFAULT_LIMIT, Page, check_limit
from g2p_payment_phee.payments.models import IS_FAILED, Payment, PaymentBatch
from g2p_payment_phee.payments.states import BatchState, PaymentState, PaymentStatus
from g2p_payment_phee.programs.models import Entitlement
from g2p_payment_phee.registry.listing import registrants_matching
from g2p_payment_phee.tables import Order, PageRequest, Sorting, TablePage, read_page
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

# Where unreconciled payments can be: a batch's payments become ``sent`` in the transaction
# that moves it to ``submitted``; a batch completes only once all its payments are final.
HELD_IN: dict[PaymentState, tuple[BatchState, ...]] = {
    PaymentState.ISSUED: (
        BatchState.PREPARED,
        BatchState.SENDING,
        BatchState.REJECTED,
        BatchState.OUTCOME_UNKNOWN,
    ),
    PaymentState.SENT: (BatchState.SUBMITTED,),
    PaymentState.CANCELLED: (BatchState.CANCELLED,),
}
# More candidate batches than this (one bound value each; old SQLite takes 999): the plain
# filter is as good, since the payments it looks for are then common enough to fill a page fast.
PRUNE_MAX_BATCHES = 900


PAYMENT_SORTING = Sorting(
    orders=(Order("created", (Payment.id,), (as_uuid,)),),  # ids are time-ordered (ids.py)
    default="created",
)
# a batch's payments in file order: ``ix_payments_batch_row``
BATCH_PAYMENT_SORTING = Sorting(
    orders=(Order("row", (Payment.batch_row, Payment.id), (as_int, as_uuid)),),
    default="row",
)


def list_payments(
    session: Session,
    actor: User,
    *,
    cycle_id: uuid.UUID | None = None,
    batch_id: uuid.UUID | None = None,
    state: PaymentState | None = None,
    status: PaymentStatus | None = None,
    search: str | None = None,
    page: PageRequest | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> TablePage[Payment]:
    """One page of payments, filtered by cycle, batch, state, final status and a search (a
    registrant's name, reference, phone or ID number; an entitlement code; a payment id),
    with their count.

    Within a batch the order is the file's row order; otherwise it is the payment id (the
    order they were made in). A ``status`` filter implies ``state = reconciled``."""
    authorize(actor, Permission.VIEW)
    request = page or PageRequest(cursor=cursor, limit=limit)
    conditions = payment_conditions(cycle_id, batch_id, state, status)
    if search and search.strip():
        conditions.append(payment_search(session, search))
    query = select(Payment).where(*conditions)
    if batch_id is not None:
        count = query.with_only_columns(Payment.id)
        return read_page(session, query, BATCH_PAYMENT_SORTING, request, count=count)
    if status is None and state in HELD_IN:
        query = _only_holding_batches(session, query, cycle_id, state)
    # counted through the same narrowing: a state few payments are in is counted from its batches
    count = query.with_only_columns(Payment.id)
    if status is PaymentStatus.FAILED or state is PaymentState.CANCELLED:
        # the very predicate of ix_payments_failed_entitlement: the count reads the payments
        # no longer live from it (11 ms instead of 125 at 20,000 failures in a million); the
        # page itself is faster walking the primary key, which finds 100 failures in a few
        # thousand rows, so it does not get the hint
        count = count.where(IS_FAILED)
    return read_page(session, query, PAYMENT_SORTING, request, count=count)


def payment_search(session: Session, text: str) -> ColumnElement[bool]:
    """The payments ``text`` names, found through indexes: a payment or registrant id; an
    entitlement code (that entitlement's payments); else a registrant's name (its start),
    reference, phone or ID number (``ix_payments_registrant``)."""
    text = text.strip()
    try:
        named = uuid.UUID(text)
    except ValueError:
        pass
    else:
        return or_(Payment.id == named, Payment.registrant_id == named)
    entitlement = session.execute(
        select(Entitlement.id, Entitlement.registrant_id).where(Entitlement.code == text)
    ).first()
    if entitlement is not None:
        return and_(
            Payment.registrant_id == entitlement.registrant_id,
            Payment.entitlement_id == entitlement.id,
        )
    return Payment.registrant_id.in_(registrants_matching(text))


def payment_conditions(
    cycle_id: uuid.UUID | None,
    batch_id: uuid.UUID | None,
    state: PaymentState | None,
    status: PaymentStatus | None,
) -> list[ColumnElement[bool]]:
    """The filters of the payments list, shared with its export: a ``status`` implies
    ``state = reconciled``."""
    conditions: list[ColumnElement[bool]] = []
    if cycle_id is not None:
        conditions.append(Payment.cycle_id == cycle_id)
    if batch_id is not None:
        conditions.append(Payment.batch_id == batch_id)
    if status is not None:
        conditions.append(Payment.state == (state or PaymentState.RECONCILED))
        conditions.append(Payment.status == status)
    elif state is not None:
        conditions.append(Payment.state == state)
    return conditions


def _only_holding_batches(
    session: Session,
    query: Select[tuple[Payment]],
    cycle_id: uuid.UUID | None,
    state: PaymentState,
) -> Select[tuple[Payment]]:
    """``query`` narrowed to the batches that can hold payments in ``state`` (see HELD_IN)."""
    batches = select(PaymentBatch.id).where(PaymentBatch.state.in_(HELD_IN[state]))
    if cycle_id is not None:
        batches = batches.where(PaymentBatch.cycle_id == cycle_id)
    ids = session.scalars(batches.limit(PRUNE_MAX_BATCHES + 1)).all()
    if len(ids) > PRUNE_MAX_BATCHES:
        return query
    holding: ColumnElement[bool] = Payment.batch_id.in_(ids)
    # waiting for a batch (create_batch off), or cancelled out of a batch never sent
    if state in (PaymentState.ISSUED, PaymentState.CANCELLED):
        holding = or_(holding, Payment.batch_id.is_(None))
    return query.where(holding)


def list_cycle_batches(
    session: Session,
    actor: User,
    cycle_id: uuid.UUID,
    *,
    state: BatchState | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[PaymentBatch]:
    """One page of a cycle's batches in sequence order, optionally in one state."""
    authorize(actor, Permission.VIEW)
    check_limit(limit)
    query = select(PaymentBatch).where(PaymentBatch.cycle_id == cycle_id)
    if state is not None:
        query = query.where(PaymentBatch.state == state)
    key = read_cursor(cursor, as_int)
    if key is not None:
        query = query.where(PaymentBatch.sequence > key[0])
    rows = session.scalars(query.order_by(PaymentBatch.sequence).limit(limit + 1)).all()
    return page_from_rows(rows, limit, lambda b: [b.sequence])
