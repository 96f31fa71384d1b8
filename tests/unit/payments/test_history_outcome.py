"""The one word a registrant's history gives each entitlement, from its payments."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from g2p_payment_phee.payments.history import PaymentAttempt, entitlement_outcome
from g2p_payment_phee.payments.outcomes import Outcome
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.programs.states import EntitlementState

_R = PaymentState.RECONCILED
PAID = (_R, PaymentStatus.PAID)
FAILED = (_R, PaymentStatus.FAILED)
SENT = (PaymentState.SENT, None)
ISSUED = (PaymentState.ISSUED, None)
CANCELLED = (PaymentState.CANCELLED, None)


def _attempt(state: PaymentState, status: PaymentStatus | None) -> PaymentAttempt:
    return PaymentAttempt(
        request_id="r",
        state=state,
        status=status,
        amount_issued=Decimal(100),
        amount_paid=None,
        currency="KES",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        sent_at=None,
        settled_at=None,
        failure_reason=None,
        phee_transaction_id=None,
        batch_id=None,
        batch_name=None,
        batch_sequence=None,
    )


@pytest.mark.parametrize(
    ("payments", "expected"),
    [
        ([PAID], Outcome.PAID),
        ([FAILED, PAID], Outcome.PAID),
        ([FAILED, SENT], Outcome.PENDING),
        ([FAILED, ISSUED], Outcome.NOT_SENT),
        ([CANCELLED, ISSUED], Outcome.NOT_SENT),
        ([FAILED, FAILED], Outcome.FAILED),
        ([FAILED, CANCELLED], Outcome.FAILED),  # the retry was cancelled: it still failed
        ([CANCELLED, CANCELLED], Outcome.CANCELLED),
        ([], Outcome.NOT_SENT),
    ],
)
def test_an_approved_entitlement_is_what_its_most_telling_payment_is(
    payments: list[tuple[PaymentState, PaymentStatus | None]], expected: Outcome
) -> None:
    attempts = [_attempt(state, status) for state, status in payments]
    assert entitlement_outcome(EntitlementState.APPROVED, attempts) is expected


def test_rejected_and_cancelled_entitlements_say_so() -> None:
    assert entitlement_outcome(EntitlementState.REJECTED, []) is Outcome.REJECTED
    assert entitlement_outcome(EntitlementState.CANCELLED, []) is Outcome.CANCELLED
    assert entitlement_outcome(EntitlementState.PENDING_VALIDATION, []) is Outcome.NOT_SENT


def test_each_payment_has_its_own_outcome() -> None:
    outcomes = [_attempt(*p).outcome for p in (PAID, FAILED, SENT, ISSUED, CANCELLED)]
    assert outcomes == [
        Outcome.PAID,
        Outcome.FAILED,
        Outcome.PENDING,
        Outcome.NOT_SENT,
        Outcome.CANCELLED,
    ]
