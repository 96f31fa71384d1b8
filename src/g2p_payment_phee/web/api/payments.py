"""``/payments``: payments with filters (cycle, batch, state, final status) and their outcome."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter

from g2p_payment_phee.errors import NotFound
from g2p_payment_phee.pagination import DEFAULT_LIMIT
from g2p_payment_phee.payments.listing import list_payments
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.users.permissions import Permission, authorize
from g2p_payment_phee.web.api.schemas import Amount, Cursor, Limit, Paginated, PublicModel, page_of
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


class PaymentsPublic(Paginated[PaymentPublic]):
    """A page of payments: in file order within a batch, by id otherwise."""


@router.get("")
def search_payments(
    user: ApiUser,
    session: DbSession,
    cycle_id: uuid.UUID | None = None,
    batch_id: uuid.UUID | None = None,
    state: PaymentState | None = None,
    status: PaymentStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> PaymentsPublic:
    """A page of payments; ``status=failed`` lists failures with their reasons."""
    page = list_payments(
        session,
        user,
        cycle_id=cycle_id,
        batch_id=batch_id,
        state=state,
        status=status,
        cursor=cursor,
        limit=limit,
    )
    return PaymentsPublic.model_validate(page_of(PaymentPublic, page))


@router.get("/{payment_id}")
def read_payment(payment_id: uuid.UUID, user: ApiUser, session: DbSession) -> PaymentPublic:
    """One payment by id (its request_id)."""
    authorize(user, Permission.VIEW)
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound(f"no payment {payment_id}")
    return PaymentPublic.model_validate(payment)
