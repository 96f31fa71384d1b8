"""prepare_payments: CSV bytes, payees, splitting, idempotence, the re-payment rule, dry runs."""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import BusinessRuleViolation, ConfigurationError
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_payments
from g2p_payment_phee.payments.states import PaymentStatus
from g2p_payment_phee.phee.csvfile import HEADER
from g2p_payment_phee.programs.models import Cycle, Entitlement, Program
from g2p_payment_phee.registry.models import Phone
from g2p_payment_phee.users.models import User
from tests import factories


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _batches(session: Session, cycle: Cycle) -> list[PaymentBatch]:
    query = (
        select(PaymentBatch)
        .where(PaymentBatch.cycle_id == cycle.id)
        .order_by(PaymentBatch.sequence)
    )
    return list(session.scalars(query))


def _file(session: Session, actor: User, batch: PaymentBatch) -> bytes:
    return service.batch_file(session, actor, batch).data


def test_the_csv_byte_for_byte(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    phee(payer_id_type="ACCOUNT_ID", payer_id="001122")
    cycle = factories.approved_cycle(
        session, admin, approver, program, beneficiaries=3, amount="1500"
    )
    report = service.prepare_cycle(session, admin, cycle)
    assert (report.created, report.batches) == (3, 1)
    [batch] = _batches(session, cycle)
    payments = list(session.scalars(select(Payment).order_by(Payment.batch_row)))
    assert [p.entitlement_id for p in payments] == sorted(p.entitlement_id for p in payments)
    expected = [HEADER] + [
        f"{i},{p.id},mojaloop,ACCOUNT_ID,001122,MSISDN,{p.payee_id_value[1:]},1500,KES,"
        f"Program: Cash Transfer. Cycle ID - {cycle.name}"
        for i, p in enumerate(payments)
    ]
    data = _file(session, admin, batch)
    assert data == "\n".join(expected).encode()
    assert b",MSISDN,254700000000,1500," in data  # phones as digits (msisdn_format default)
    assert not data.endswith(b"\n")
    assert b"\r" not in data
    assert not data.startswith(b"\xef\xbb\xbf")
    assert batch.csv_sha256 == hashlib.sha256(data).hexdigest()
    assert batch.file_name == f"ph_ee_{batch.name}.csv"
    assert batch.issued_amount == Decimal(4500)
    assert {p.payee_id_value for p in payments} == {
        "+254700000000",
        "+254700000001",
        "+254700000002",
    }


@pytest.mark.parametrize(
    ("settings", "type_sent", "value_of_first"),
    [
        ({"payee_id_type": "bank_acc_no"}, "ACCOUNT_ID", "0000000000"),
        ({"payee_id_type": "bank_acc_iban"}, "IBAN", "DE"),
        ({"payee_id_type": "phone"}, "MSISDN", "254700000000"),
        ({"payee_id_type": "phone", "msisdn_format": "e164"}, "MSISDN", "+254700000000"),
        ({"payee_id_type": "email"}, "EMAIL", "person0@example.org"),
        (
            {"payee_id_type": "reg_id", "reg_id_type_for_payee_id": "National ID"},
            "National ID",
            "00000000",
        ),
        ({"payee_id_type": "phone", "payee_id_type_to_send": "PHONE"}, "PHONE", "254700000000"),
    ],
)
def test_each_payee_option(
    session: Session,
    admin: User,
    approver: User,
    program: Program,
    phee,
    settings: dict[str, str],
    type_sent: str,
    value_of_first: str,
) -> None:
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=2)
    phee(**settings)
    service.prepare_cycle(session, admin, cycle)
    first = session.scalar(
        select(Payment)
        .join(Entitlement, Entitlement.id == Payment.entitlement_id)
        .where(Payment.batch_row == 0)
    )
    assert first is not None
    assert first.payee_id_type == type_sent
    rows = _file(session, admin, _batches(session, cycle)[0]).decode().split("\n")[1:]
    assert all(row.split(",")[5] == type_sent for row in rows)
    values = {row.split(",")[6] for row in rows}
    assert any(v.startswith(value_of_first) for v in values)


def test_unpayable_entitlements_are_skipped_with_reasons(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=4)
    phones = list(session.scalars(select(Phone).order_by(Phone.number)))
    phones[0].disabled_at = phones[0].created_at
    phones[1].number = "0712,345"
    phones[2].number = "0712345678"
    session.flush()
    report = service.prepare_cycle(session, admin, cycle)
    assert (report.created, report.skipped_count) == (1, 3)
    reasons = sorted(s.reason for s in report.skipped)
    assert "no enabled phone number" in reasons
    assert any("comma, quote or line break" in r for r in reasons)
    assert any("not in E.164" in r for r in reasons)
    assert {s.reference for s in report.skipped} == {"B000000", "B000001", "B000002"}


def test_fractional_amounts_are_refused_under_integer_format(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = factories.approved_cycle(
        session, admin, approver, program, beneficiaries=2, amount="10.5"
    )
    report = service.prepare_cycle(session, admin, cycle)
    assert report.created == 0
    assert "fractional part" in report.skipped[0].reason
    phee(amount_format="decimal")
    report = service.prepare_cycle(session, admin, cycle)
    assert report.created == 2
    row = _file(session, admin, _batches(session, cycle)[0]).decode().split("\n")[1]
    assert row.split(",")[7] == "10.50"


def test_split_by_count_1001_is_500_500_1(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=1001)
    report = service.prepare_cycle(session, admin, cycle)
    assert [b.issued_count for b in _batches(session, cycle)] == [500, 500, 1]
    assert (report.created, report.batches) == (1001, 3)
    rows = [len(_file(session, admin, b).split(b"\n")) - 1 for b in _batches(session, cycle)]
    assert rows == [500, 500, 1]


def test_split_by_bytes(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    phee(max_file_bytes=1_000)
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=20)
    service.prepare_cycle(session, admin, cycle)
    batches = _batches(session, cycle)
    assert len(batches) > 1
    assert sum(b.issued_count for b in batches) == 20
    for batch in batches:
        data = _file(session, admin, batch)
        assert len(data) <= 1_000
        assert batch.csv_size == len(data)
        first_ids = [line.split(b",")[0] for line in data.split(b"\n")[1:]]
        assert first_ids == [str(i).encode() for i in range(len(first_ids))]


def test_re_prepare_adds_nothing_and_says_so(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=5)
    service.prepare_cycle(session, admin, cycle)
    again = service.prepare_cycle(session, admin, cycle)
    assert again.created == 0
    assert "already have a payment" in again.message
    assert _count(session, Payment) == 5
    assert cycle.state == "approved"


def test_the_re_payment_rule(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=3)
    service.prepare_cycle(session, admin, cycle)
    paid, failed, open_ = session.scalars(select(Payment).order_by(Payment.batch_row)).all()
    reconcile_payments(
        session,
        [
            Outcome(paid.id, PaymentStatus.PAID, Decimal(100)),
            Outcome(failed.id, PaymentStatus.FAILED, reason="closed"),
        ],
    )
    retry = service.retry_failed(session, admin, cycle)
    assert retry.created == 1
    new = session.scalar(
        select(Payment).where(
            Payment.entitlement_id == failed.entitlement_id, Payment.id != failed.id
        )
    )
    assert new is not None
    assert new.batch_id not in {paid.batch_id}
    assert service.prepare_cycle(session, admin, cycle).created == 0
    assert _count(session, Payment) == 4
    assert open_.status is None


def test_the_database_refuses_a_second_live_payment(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    from sqlalchemy.exc import IntegrityError

    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=1)
    service.prepare_cycle(session, admin, cycle)
    payment = session.scalar(select(Payment))
    assert payment is not None
    session.commit()
    duplicate = Payment(
        id=uuid.uuid4(), entitlement_id=payment.entitlement_id, cycle_id=cycle.id,
        registrant_id=payment.registrant_id, amount_issued=Decimal(1), currency="KES",
        payee_id_type="MSISDN", payee_id_value="+254700000009",
    )  # fmt: skip
    session.add(duplicate)
    with pytest.raises(IntegrityError, match=r"uq_payments_live_entitlement|UNIQUE"):
        session.flush()
    session.rollback()


def test_dry_run_writes_nothing(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=7)
    session.commit()
    report = service.prepare_cycle(session, admin, cycle, dry_run=True)
    assert (report.created, report.batches, report.dry_run) == (7, 1, True)
    assert report.totals["KES"].amount == Decimal(700)
    assert _count(session, Payment) == 0
    assert _count(session, PaymentBatch) == 0


def test_make_csv_at_send_time_renders_the_same_bytes(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    phee(make_csv_at_prepare=False)
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=3)
    service.prepare_cycle(session, admin, cycle)
    [batch] = _batches(session, cycle)
    assert batch.csv_sha256 is None
    data = _file(session, admin, batch)
    assert data.startswith(HEADER.encode())
    assert batch.csv_sha256 == hashlib.sha256(data).hexdigest()
    assert _file(session, admin, batch) == data


def test_refusals(session: Session, admin: User, approver: User, viewer: User, phee) -> None:
    other = factories.program(session, admin, name="No manager")
    cycle = factories.approved_cycle(session, admin, approver, other, beneficiaries=1)
    with pytest.raises(ConfigurationError, match="no payment manager configured"):
        service.prepare_cycle(session, admin, cycle)
    draft = factories.cycle_with_entitlements(session, admin, other, beneficiaries=1)
    from g2p_payment_phee.payments.config_service import configure_manager
    from g2p_payment_phee.programs.models import ManagerKind

    configure_manager(
        session, admin, other, ManagerKind.PHEE, {"tenant_id": "t", "payee_id_type": "phone"}
    )
    with pytest.raises(BusinessRuleViolation, match="only an approved cycle"):
        service.prepare_cycle(session, admin, draft)
    from g2p_payment_phee.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        service.prepare_cycle(session, viewer, cycle)


def test_nothing_to_pay_is_said_clearly(
    session: Session, admin: User, approver: User, program: Program, phee
) -> None:
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=1)
    session.execute(update(Entitlement).values(state="expired"))
    report = service.prepare_cycle(session, admin, cycle)
    assert report.message == "nothing to pay: the cycle has no approved entitlements"
    assert cycle.state == "approved"
