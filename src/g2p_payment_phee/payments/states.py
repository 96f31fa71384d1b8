"""Payment and batch state machines (SPEC 2.3), with their only writers.

A payment goes ``issued → sent → reconciled`` and, once reconciled, carries a final ``status``
(``paid`` or ``failed``) that nothing changes again. A batch goes
``prepared → sending → submitted → completed``; ``rejected`` (PHEE refused it: it may be sent
again once fixed) and ``outcome_unknown`` (it may or may not have reached PHEE: it is looked up
before anything else is done) branch off ``sending``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Result, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from g2p_payment_phee import audit
from g2p_payment_phee.errors import Conflict
from g2p_payment_phee.statemachine import StateMachine

if TYPE_CHECKING:
    from g2p_payment_phee.payments.models import PaymentBatch
    from g2p_payment_phee.users.models import User


class PaymentState(StrEnum):
    """Where a payment is in its life."""

    ISSUED = "issued"
    SENT = "sent"
    RECONCILED = "reconciled"


class PaymentStatus(StrEnum):
    """The final outcome of a reconciled payment."""

    PAID = "paid"
    FAILED = "failed"


class BatchState(StrEnum):
    """Where a batch is in its life."""

    PREPARED = "prepared"
    SENDING = "sending"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    REJECTED = "rejected"
    OUTCOME_UNKNOWN = "outcome_unknown"


_P = PaymentState
PAYMENT_MACHINE = StateMachine[PaymentState](
    "payment",
    {_P.ISSUED: frozenset({_P.SENT, _P.RECONCILED}), _P.SENT: frozenset({_P.RECONCILED})},
)

_B = BatchState
BATCH_MACHINE = StateMachine[BatchState](
    "payment batch",
    {
        _B.PREPARED: frozenset({_B.SENDING, _B.COMPLETED}),
        _B.SENDING: frozenset({_B.SUBMITTED, _B.REJECTED, _B.OUTCOME_UNKNOWN}),
        _B.REJECTED: frozenset({_B.SENDING, _B.COMPLETED}),
        _B.OUTCOME_UNKNOWN: frozenset({_B.SENDING, _B.SUBMITTED, _B.REJECTED}),
        _B.SUBMITTED: frozenset({_B.COMPLETED}),
    },
)


def set_batch_state(
    session: Session,
    actor: User | None,
    batch: PaymentBatch,
    target: BatchState,
    data: dict[str, Any] | None = None,
    **values: Any,
) -> None:
    """The only writer of a batch's state: checked, conditional on the state read (so two
    workers cannot both move one batch), audited. ``values`` are written in the same UPDATE."""
    from g2p_payment_phee.payments.models import PaymentBatch

    current = batch.state
    BATCH_MACHINE.check(current, target)
    result: Result[Any] = session.execute(
        update(PaymentBatch)
        .where(PaymentBatch.id == batch.id, PaymentBatch.state == current)
        .values(state=target, **values)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(result, "rowcount", 0)) != 1:
        raise Conflict(f"batch {batch.name} is no longer {current}: someone else moved it")
    set_committed_value(batch, "state", target)
    for key, value in values.items():
        set_committed_value(batch, key, value)
    audit.record(
        session, actor, f"batch.{target}", batch, {"from": current, "to": target, **(data or {})}
    )


def mark_batch_payments_sent(session: Session, batch: PaymentBatch) -> int:
    """issued → sent for every payment of a batch that was handed over (one UPDATE).

    With ``reconcile.reconcile_payments`` (sent/issued → reconciled, conditional on not being
    final yet) these are the only writers of payment state."""
    from g2p_payment_phee.db import utcnow
    from g2p_payment_phee.payments.models import Payment

    PAYMENT_MACHINE.check(PaymentState.ISSUED, PaymentState.SENT)
    result: Result[Any] = session.execute(
        update(Payment)
        .where(Payment.batch_id == batch.id, Payment.state == PaymentState.ISSUED)
        .values(state=PaymentState.SENT, sent_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))
