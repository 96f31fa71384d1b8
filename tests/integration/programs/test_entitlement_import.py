"""Importing a cycle's entitlements: row errors, one transaction, re-import updates, dry run."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import BusinessRuleViolation, ImportRejected
from g2p_payment_phee.programs import service
from g2p_payment_phee.programs.entitlement_import import import_entitlements
from g2p_payment_phee.programs.models import Cycle, Entitlement
from g2p_payment_phee.users.models import User
from tests import factories


@pytest.fixture
def cycle(session: Session, manager: User) -> Cycle:
    program = factories.program(session, manager)
    for ref in ("A1", "A2", "A3"):
        factories.registrant(session, ref)
    factories.registrant(session, "OUTSIDER")
    service.enrol(session, manager, program, ["A1", "A2", "A3"])
    return service.create_cycle(
        session, manager, program, name="Dec", start=date(2026, 12, 1), end=date(2026, 12, 31)
    )


def _amounts(session: Session) -> dict[str, Decimal]:
    from g2p_payment_phee.registry.models import Registrant

    rows = session.execute(
        select(Registrant.reference, Entitlement.initial_amount).join(
            Entitlement, Entitlement.registrant_id == Registrant.id
        )
    )
    return dict(rows.tuples().all())


def test_good_rows_land_and_bad_rows_are_reported_precisely(
    session: Session, manager: User, cycle: Cycle
) -> None:
    data = (
        b"registrant_reference,amount,currency,transfer_fee,valid_from,valid_until\n"
        b"A1,1500,KES,10,2026-12-01,2026-12-31\n"
        b"A2,-4,KES,,,\n"  # row 3: negative
        b"OUTSIDER,10,KES,,,\n"  # row 4: not enrolled
        b"A3,12,USD,,,\n"  # row 5: other currency
        b"A1,99,,,,\n"  # row 6: duplicate
        b"GHOST,1.5,,,2026-12-31,2026-12-01\n"  # row 7: unknown + dates out of order
    )
    report = import_entitlements(session, manager, cycle, data, fmt="csv")
    assert (report.rows, report.created, report.rejected) == (6, 1, 5)
    problems = {(e.row, e.field) for e in report.errors}
    assert problems == {
        (3, "amount"),
        (4, "registrant_reference"),
        (5, "currency"),
        (6, "registrant_reference"),
        (7, "registrant_reference"),
        (7, "valid_until"),
    }
    reasons = {e.row: e.reason for e in report.errors}
    assert "not enrolled" in reasons[4]
    assert "not the program's currency KES" in reasons[5]
    assert "already on row 2" in reasons[6]
    assert _amounts(session) == {"A1": Decimal("1500")}
    fee = session.scalar(select(Entitlement.transfer_fee))
    assert fee == Decimal("10")


def test_reimport_updates_instead_of_duplicating(
    session: Session, manager: User, cycle: Cycle
) -> None:
    first = import_entitlements(
        session, manager, cycle, b"registrant_reference,amount\nA1,5\nA2,6", fmt="csv"
    )
    again = import_entitlements(
        session, manager, cycle, b"registrant_reference,amount\nA1,7\nA3,8", fmt="csv"
    )
    assert (first.created, again.created, again.updated) == (2, 1, 1)
    assert _amounts(session) == {"A1": Decimal(7), "A2": Decimal(6), "A3": Decimal(8)}


def test_dry_run_writes_nothing(session: Session, manager: User, cycle: Cycle) -> None:
    report = import_entitlements(
        session, manager, cycle, b"registrant_reference,amount\nA1,5", fmt="csv", dry_run=True
    )
    assert (report.created, report.dry_run) == (1, True)
    assert session.scalar(select(func.count()).select_from(Entitlement)) == 0


def test_json_amounts_are_decimal_never_float(
    session: Session, manager: User, cycle: Cycle
) -> None:
    items = [{"registrant_reference": "A1", "amount": 0.1}, {"registrant_reference": "A2"}]
    report = import_entitlements(session, manager, cycle, json.dumps(items).encode(), fmt="json")
    assert _amounts(session) == {"A1": Decimal("0.1")}
    assert [(e.row, e.field, e.reason) for e in report.errors] == [(2, "amount", "is required")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"registrant_reference\nA1", "missing column.*amount"),
        (b"registrant_reference,amount,colour\nA1,1,red", "unknown column.*colour"),
        (b"registrant_reference,amount\nA1,\xe9", "not UTF-8 .*0xe9"),
        (b'registrant_reference,amount\n"A1,1', "malformed CSV"),
    ],
)
def test_unreadable_files_are_rejected_whole(
    session: Session, manager: User, cycle: Cycle, data: bytes, message: str
) -> None:
    with pytest.raises(ImportRejected, match=message):
        import_entitlements(session, manager, cycle, data, fmt="csv")
    assert session.scalar(select(func.count()).select_from(Entitlement)) == 0


def test_only_draft_cycles_take_imports(
    session: Session, manager: User, approver: User, cycle: Cycle
) -> None:
    import_entitlements(session, manager, cycle, b"registrant_reference,amount\nA1,5", fmt="csv")
    service.submit_cycle(session, manager, cycle)
    with pytest.raises(BusinessRuleViolation, match="while a cycle is draft"):
        import_entitlements(
            session, manager, cycle, b"registrant_reference,amount\nA2,5", fmt="csv"
        )
