"""``/payments``: payments with filters (cycle, batch, state, final status), a search, sorted,
counted and paged both ways (``web/api/tables.py``), and each with its outcome."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Query

from g2p_payment_phee.errors import NotFound
from g2p_payment_phee.i18n import _
from g2p_payment_phee.pagination import DEFAULT_LIMIT
from g2p_payment_phee.payments.listing import list_payments
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.programs.listing import find_cycle
from g2p_payment_phee.users.permissions import Permission, authorize
from g2p_payment_phee.web.api.schemas import Amount, Limit, PublicModel
from g2p_payment_phee.web.api.tables import Paging, TablePublic, table_of
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/payments", tags=["payments"])


class PaymentPublic(PublicModel):
    """A payment; ``id`` is also its PHEE request_id. ``failure_reason`` is PHEE's error text."""

    id: uuid.UUID
    entitlement_id: uuid.UUID
    cycle_id: uuid.UUID
    registrant_id: uuid.UUID
    batch_id: uuid.UUID | None
    batch_row: int | None
    amount_issued: Amount
    payment_fee: Amount
    currency: str
    payee_id_type: str
    payee_id_value: str
    state: PaymentState
    status: PaymentStatus | None
    amount_paid: Amount | None
    sent_at: datetime | None
    settled_at: datetime | None
    failure_reason: str | None
    phee_transaction_id: str | None
    created_at: datetime


class PaymentsPublic(TablePublic[PaymentPublic]):
    """A page of payments: in file order within a batch, by id (the order they were made in)
    otherwise; ``sort=-created`` (or ``-row`` in a batch) reverses it."""


@router.get("")
def search_payments(
    user: ApiUser,
    session: DbSession,
    paging: Paging,
    cycle_id: uuid.UUID | None = None,
    cycle: str | None = Query(None, max_length=200, description="A cycle's name or id"),
    batch_id: uuid.UUID | None = None,
    state: PaymentState | None = None,
    status: PaymentStatus | None = None,
    q: str | None = Query(
        None,
        max_length=200,
        description="A registrant's name (its start), reference, phone or ID number; an "
        "entitlement code; a payment id",
    ),
    limit: Limit = DEFAULT_LIMIT,
) -> PaymentsPublic:
    """A page of payments with their count; ``status=failed`` lists failures with their
    reasons."""
    if cycle_id is None and cycle and cycle.strip():
        cycle_id = find_cycle(session, user, cycle).id
    page = list_payments(
        session,
        user,
        cycle_id=cycle_id,
        batch_id=batch_id,
        state=state,
        status=status,
        search=q,
        page=paging.sized(limit),
    )
    items = [PaymentPublic.model_validate(p) for p in page.items]
    return PaymentsPublic.model_validate(table_of(items, page))


@router.get("/{payment_id}")
def read_payment(payment_id: uuid.UUID, user: ApiUser, session: DbSession) -> PaymentPublic:
    """One payment by id (its request_id)."""
    authorize(user, Permission.VIEW)
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound(_("no payment {payment_id}").format(payment_id=payment_id))
    return PaymentPublic.model_validate(payment)
