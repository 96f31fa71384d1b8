"""A small paid-for world for API tests: a PHEE program, a prepared cycle, a draft cycle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.models import Entitlement, ManagerKind
from g2p_payment_phee.users.models import Role, User
from tests import factories

SECRETS = {
    "password": "hub-password-sentinel-6c1f",
    "authorization": "Basic c2VudGluZWwtYXV0aC05ZDNl",
}


# port 9 (discard): nothing listens, so a send or test-connection fails at once
NOWHERE = {
    "auth_endpoint_url": "http://127.0.0.1:9/oauth/token",
    "payment_endpoint_url": "http://127.0.0.1:9/batchtransactions",
    "status_endpoint_url": "http://127.0.0.1:9/api/v1/batch",
    "details_endpoint_url": "http://127.0.0.1:9/api/v1/batch/detail",
}


@dataclass(frozen=True)
class World:
    """Ids (as text) the routes are called with."""

    program: str
    cycle: str
    draft_cycle: str
    batch: str
    payment: str
    registrant: str
    spare_user: str
    entitlement: str  # a code, of the draft cycle


def build_world(session: Session, admin: User, approver: User) -> World:
    """A PHEE program (its hub unreachable), a prepared approved cycle of 3, a draft cycle."""
    program = factories.program(session, admin)
    configure_manager(
        session,
        admin,
        program,
        ManagerKind.PHEE,
        {"tenant_id": "gorilla", "payee_id_type": "phone", "batch_request_timeout": 1, **NOWHERE},
        dict(SECRETS),
    )
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=3)
    payments.prepare_cycle(session, admin, cycle)
    draft = programs.create_cycle(
        session, admin, program, name="Draft", start=date(2027, 1, 1), end=date(2027, 1, 31)
    )
    programs.add_fixed_entitlements(session, admin, draft, amount="50")
    code = session.scalars(select(Entitlement.code).where(Entitlement.cycle_id == draft.id)).first()
    assert code is not None
    batch = session.scalars(select(PaymentBatch).where(PaymentBatch.cycle_id == cycle.id)).one()
    payment = session.scalars(select(Payment).where(Payment.batch_id == batch.id)).first()
    assert payment is not None
    spare = factories.user(session, "spare", Role.VIEWER)
    session.commit()
    return World(
        program=str(program.id),
        cycle=str(cycle.id),
        draft_cycle=str(draft.id),
        batch=str(batch.id),
        payment=str(payment.id),
        registrant="B000001",
        spare_user=spare.username,
        entitlement=code,
    )
