"""prepare_payments reads payable entitlements in keyset pages: on the session's connection, or,
on PostgreSQL when the transaction has written nothing yet, one page ahead on a connection of
its own. Both give the same payments in the same order."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.payments import prepare_readers, service
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.programs.models import Entitlement, Program
from g2p_payment_phee.users.models import User
from tests import factories


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Pages of 7 rows; records which reading path each prepare took."""
    monkeypatch.setattr(prepare_readers, "PAGE_ROWS", 7)
    paths: list[str] = []
    real = prepare_readers.pages_read_aside

    def read_aside(*args: Any, **kwargs: Any) -> Any:
        paths.append("aside")
        return real(*args, **kwargs)

    monkeypatch.setattr(prepare_readers, "pages_read_aside", read_aside)
    return paths


def _payments_in_file_order(session: Session) -> list[Payment]:
    query = (
        select(Payment)
        .join(PaymentBatch, PaymentBatch.id == Payment.batch_id)
        .order_by(PaymentBatch.sequence, Payment.batch_row)
    )
    return list(session.scalars(query))


def test_pages_cover_every_entitlement_once_in_order(
    backend: str,
    session: Session,
    admin: User,
    approver: User,
    program: Program,
    phee,
    small_pages: list[str],
) -> None:
    phee(max_batch_size=10)
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=45)
    session.commit()  # nothing written in the prepare's transaction: PostgreSQL reads aside
    report = service.prepare_cycle(session, admin, cycle)
    session.commit()
    assert (report.created, report.batches) == (45, 5)
    assert small_pages == (["aside"] if backend == "postgres" else [])
    payments = _payments_in_file_order(session)
    entitlements = sorted(session.scalars(select(Entitlement.id)))
    assert [p.entitlement_id for p in payments] == entitlements
    assert [p.batch_row for p in payments] == [i % 10 for i in range(45)]
    assert service.prepare_cycle(session, admin, cycle).created == 0


def test_uncommitted_entitlements_are_read_in_the_transaction(
    session: Session,
    admin: User,
    approver: User,
    program: Program,
    phee,
    small_pages: list[str],
) -> None:
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=20)
    report = service.prepare_cycle(session, admin, cycle)  # same transaction, not committed
    assert report.created == 20
    assert small_pages == []
