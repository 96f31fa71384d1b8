"""Manager configuration (secrets write-only), the default manager, concurrent prepares."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.errors import PermissionDenied, ValidationFailed
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.config_service import (
    configure_manager,
    describe_manager,
    load_manager,
)
from g2p_payment_phee.payments.default_manager import import_results
from g2p_payment_phee.payments.models import Payment, PaymentBatch, PaymentManagerConfig
from g2p_payment_phee.payments.reports import SendOutcome
from g2p_payment_phee.payments.states import BatchState, PaymentState, PaymentStatus
from g2p_payment_phee.programs.models import ManagerKind, Program
from g2p_payment_phee.users.models import User
from tests import factories

SECRET = "s3cr3t-Passw0rd-value"


def _payment(session: Session, payment_id: object) -> Payment:
    found = session.get(Payment, payment_id)
    assert found is not None
    return found


def test_secrets_are_write_only_and_encrypted(
    session: Session, admin: User, viewer: User, program: Program
) -> None:
    configure_manager(
        session, admin, program, ManagerKind.PHEE,
        {"tenant_id": "gorilla", "payee_id_type": "phone"},
        {"password": SECRET, "authorization": "Basic Y2xpZW50Og=="},
    )  # fmt: skip
    session.commit()
    shown = describe_manager(session, viewer, program)
    assert shown["secrets"] == {
        "password": "set",
        "authorization": "set",
        "signing_private_key": "not set",
    }
    assert SECRET not in repr(shown)
    stored = session.execute(
        text("SELECT settings, secrets_encrypted FROM payment_manager_configs")
    ).one()
    assert SECRET not in str(stored)
    assert "Y2xpZW50Og" not in str(stored)
    events = " ".join(str(e.data) for e in session.scalars(select(AuditEvent)))
    assert SECRET not in events
    assert "'password': 'set'" in events
    manager = load_manager(session, program)
    assert manager.secrets.password == SECRET  # type: ignore[attr-defined]
    configure_manager(
        session, admin, program, ManagerKind.PHEE, {"max_batch_size": 100}, {"password": None}
    )
    assert load_manager(session, program).secrets.password == SECRET  # type: ignore[attr-defined]
    configure_manager(session, admin, program, ManagerKind.PHEE, {}, {"password": ""})
    assert describe_manager(session, viewer, program)["secrets"]["password"] == "not set"


def test_invalid_settings_are_refused_field_by_field_and_nothing_is_saved(
    session: Session, admin: User, manager: User, program: Program
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        configure_manager(
            session, admin, program, ManagerKind.PHEE,
            {"tenant_id": "", "payee_id_type": "reg_id", "max_batch_size": 0},
        )  # fmt: skip
    fields = {e.field for e in refused.value.errors}
    assert {"tenant_id", "max_batch_size"} <= fields
    assert session.scalar(select(func.count()).select_from(PaymentManagerConfig)) == 0
    with pytest.raises(PermissionDenied):
        configure_manager(
            session,
            manager,
            program,
            ManagerKind.PHEE,
            {"tenant_id": "t", "payee_id_type": "phone"},
        )
    with pytest.raises(ValidationFailed, match="unknown secret"):
        configure_manager(
            session, admin, program, ManagerKind.PHEE,
            {"tenant_id": "t", "payee_id_type": "phone"}, {"api_key": "x"},
        )  # fmt: skip


def test_the_default_manager_exports_and_reconciles_from_a_results_file(
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    approver: User,
    program: Program,
) -> None:
    configure_manager(
        session,
        admin,
        program,
        ManagerKind.DEFAULT,
        {"payee_id_type": "bank_acc_no", "max_batch_size": 2},
    )
    cycle = factories.approved_cycle(
        session, admin, approver, program, beneficiaries=3, amount="250"
    )
    report = service.prepare_cycle(session, admin, cycle)
    assert (report.created, report.batches) == (3, 2)
    batches = list(session.scalars(select(PaymentBatch).order_by(PaymentBatch.sequence)))
    data = service.batch_file(session, admin, batches[0]).data.decode()
    assert (
        data.split("\n")[0]
        == "row,request_id,payee_identifier_type,payee_identifier,amount,currency,note"
    )
    row = data.split("\n")[1].split(",")
    assert row[2] == "ACCOUNT_ID"
    assert row[3] in {"0000000000", "0000000001", "0000000002"}
    assert row[4:6] == ["250.00", "KES"]
    session.commit()
    manager = load_manager(session, program)
    handed = manager.send(session_factory, admin, [b.id for b in batches])
    assert [r.batch for r in handed.results] == [b.name for b in batches]
    assert handed.count(SendOutcome.SUBMITTED) == 2
    session.expire_all()
    payments = list(session.scalars(select(Payment).order_by(Payment.batch_id, Payment.batch_row)))
    assert {p.state for p in payments} == {PaymentState.SENT}
    results = (
        "request_id,status,amount_paid,reason\n"
        f"{payments[0].id},paid,250,\n{payments[1].id},failed,,account closed\n"
        f"{payments[1].id},paid,250,\nnot-a-uuid,paid,1,\n"
    ).encode()
    imported = import_results(session, approver, program, results, fmt="csv")
    assert (imported.updated, imported.rejected) == (2, 2)
    session.expire_all()
    first, second, third = (_payment(session, p.id) for p in payments)
    assert (first.status, first.amount_paid) == (PaymentStatus.PAID, Decimal(250))
    assert (second.status, second.failure_reason) == (PaymentStatus.FAILED, "account closed")
    assert third.state is PaymentState.SENT
    again = import_results(
        session,
        approver,
        program,
        f"request_id,status\n{payments[0].id},failed\n".encode(),
        fmt="csv",
    )
    assert again.rejected == 1
    assert "already reconciled" in again.errors[0].reason
    assert _payment(session, payments[0].id).status is PaymentStatus.PAID


@pytest.mark.postgres
def test_two_concurrent_prepares_make_one_set_of_payments(
    backend: str,
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    approver: User,
    program: Program,
    phee,
) -> None:
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=300)
    session.commit()
    barrier = threading.Barrier(2)
    created: list[int] = []
    errors: list[BaseException] = []

    def prepare() -> None:
        try:
            with session_factory() as own:
                actor = own.get(User, admin.id)
                own_cycle = own.get(type(cycle), cycle.id)
                assert actor is not None
                assert own_cycle is not None
                barrier.wait()
                created.append(service.prepare_cycle(own, actor, own_cycle).created)
                own.commit()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=prepare) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(created) == [0, 300]
    assert session.scalar(select(func.count()).select_from(Payment)) == 300
    assert session.scalar(select(func.count(func.distinct(Payment.entitlement_id)))) == 300
    batch_states = set(session.scalars(select(PaymentBatch.state)))
    assert batch_states == {BatchState.PREPARED}
