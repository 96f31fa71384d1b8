"""Data for page tests: a PHEE program with a cycle paid in part, built through the services."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.programs.models import Cycle, ManagerKind, Program
from g2p_payment_phee.users.models import User
from tests import factories

HUB_PASSWORD = "hub-password-7f3a"  # must never appear in a page or a log line
HUB_AUTHORIZATION = "Basic c2VjcmV0LWNsaWVudDo="


@dataclass
class PaidCycle:
    """A program, an approved and prepared cycle, its batches."""

    program: Program
    cycle: Cycle
    batches: list[PaymentBatch]


def phee_settings(base_url: str = "http://127.0.0.1:9") -> dict[str, object]:
    return {
        "tenant_id": "gorilla",
        "payee_id_type": "phone",
        "username": "mifos",
        "auth_endpoint_url": f"{base_url}/oauth/token",
        "payment_endpoint_url": f"{base_url}/batchtransactions",
        "status_endpoint_url": f"{base_url}/api/v1/batch",
        "details_endpoint_url": f"{base_url}/api/v1/batch/detail",
        "max_batch_size": 2,
    }


def prepared_cycle(session: Session, admin: User, approver: User, size: int = 5) -> PaidCycle:
    """An approved cycle of ``size`` payable beneficiaries, prepared in batches of 2."""
    program = factories.program(session, admin)
    configure_manager(
        session,
        admin,
        program,
        ManagerKind.PHEE,
        phee_settings(),
        {"password": HUB_PASSWORD, "authorization": HUB_AUTHORIZATION},
    )
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=size)
    payments.prepare_cycle(session, admin, cycle)
    session.flush()
    batches = list(
        session.scalars(
            select(PaymentBatch)
            .where(PaymentBatch.cycle_id == cycle.id)
            .order_by(PaymentBatch.sequence)
        )
    )
    return PaidCycle(program, cycle, batches)


def first_payment(session: Session, batch: PaymentBatch) -> Payment:
    payment = session.scalars(
        select(Payment).where(Payment.batch_id == batch.id).order_by(Payment.batch_row)
    ).first()
    assert payment is not None
    return payment
