"""Bulk import on SQLite and PostgreSQL: good rows land, bad rows are reported and not written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.db import Base
from g2p_payment_phee.errors import FieldError, ImportRejected, PermissionDenied
from g2p_payment_phee.registry import importer, service
from g2p_payment_phee.registry.importer import import_registrants
from g2p_payment_phee.registry.models import (
    Bank,
    BankAccount,
    GroupMembership,
    Phone,
    Registrant,
    RegistrantId,
    RegistrantKind,
)
from g2p_payment_phee.registry.sample_data import (
    NATIONAL_ID,
    NATIONAL_ID_REGEX,
    generate_registrants_csv,
)
from g2p_payment_phee.registry.schemas import RegistrantCreate
from g2p_payment_phee.users.models import User

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "registrants_sample.csv"
HEADER = "reference,kind,name,email,phone,id_type,id_value,bank_name,bank_code,account_number,iban"


@pytest.fixture
def national_id(session: Session, admin: User) -> None:
    service.ensure_id_type(session, admin, NATIONAL_ID, NATIONAL_ID_REGEX)


def csv(*lines: str, header: str = HEADER) -> bytes:
    return "\n".join([header, *lines]).encode()


def count(session: Session, model: type[Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def registry_counts(session: Session) -> dict[str, int]:
    models = (Registrant, RegistrantId, Phone, BankAccount, Bank, GroupMembership)
    return {model.__tablename__: count(session, model) for model in models}


def reload(session: Session, reference: str) -> Registrant:
    session.expunge_all()
    query = select(Registrant).where(Registrant.reference == reference)
    found = session.scalars(query).one()
    return found


@pytest.mark.usefixtures("national_id")
def test_good_rows_are_imported_with_ids_phones_and_accounts(
    session: Session, manager: User
) -> None:
    report = import_registrants(
        session,
        manager,
        csv(
            "R1,individual,Amina Hassan,Amina@Example.org,+254 712 345 678,National ID,12345678,"
            "Equity Bank,EQBLKENA,0123 4567,",
            "R2,,Brian Otieno,,+254722345678;+254733345678,,,Commerzbank,COBADEFFXXX,,"
            "de89 3704 0044 0532 0130 00",
            "R3,,Grace Wanjiru,,,,,Equity Bank,eqblkena,7654321,",
        ),
    )
    session.commit()
    assert (report.rows, report.created, report.updated, report.rejected) == (3, 3, 0, 0)
    assert report.errors == []
    amina = reload(session, "R1")
    assert (amina.kind, amina.email) == (RegistrantKind.INDIVIDUAL, "Amina@example.org")
    assert [(i.value, i.id_type.name) for i in amina.ids] == [("12345678", NATIONAL_ID)]
    assert [p.number for p in amina.phones] == ["+254712345678"]
    assert [(a.account_number, a.bank.code if a.bank else None) for a in amina.bank_accounts] == [
        ("01234567", "EQBLKENA")
    ]
    brian = reload(session, "R2")
    assert [(p.number, p.sequence) for p in brian.phones] == [
        ("+254722345678", 0),
        ("+254733345678", 1),
    ]
    assert brian.bank_accounts[0].iban == brian.bank_accounts[0].account_number
    assert count(session, Bank) == 2


@pytest.mark.usefixtures("national_id")
def test_bad_rows_are_reported_and_not_written(session: Session, manager: User) -> None:
    report = import_registrants(
        session,
        manager,
        csv(
            "R1,individual,Amina,,+254712345678,National ID,12345678,,,,",
            "R2,individual,Brian,not-an-email,0712345678,National ID,1234,,,,",
            "R3,individual,Grace,,,Voter card,V1,,,,DE89370400440532013001",
            "R1,individual,Amina again,,,,,,,,",
            "R4,alien,Kamau,,,,,Unknown Bank Ltd,,1,",
            "R5,individual,Faith,,,,,,,12345678,",
        ),
    )
    assert (report.rows, report.created, report.rejected) == (6, 2, 4)
    assert [(e.row, e.field) for e in report.errors] == [
        (3, "email"),
        (3, "phone"),
        (3, "id_value"),
        (4, "id_type"),
        (4, "iban"),
        (5, "reference"),
        (6, "kind"),
        (6, "account_number"),
    ]
    assert report.errors[5].reason == "'R1' already appears on row 2 (once per file)"
    assert "unknown ID type 'Voter card'" in report.errors[3].reason
    assert "invalid checksum digits" in report.errors[4].reason
    session.commit()
    references = session.scalars(select(Registrant.reference).order_by(Registrant.reference))
    assert list(references) == ["R1", "R5"]
    assert registry_counts(session) == {
        "registrants": 2,
        "registrant_ids": 1,
        "phones": 1,
        "bank_accounts": 1,
        "banks": 0,
        "group_memberships": 0,
    }
    assert count(session, Bank) == 0, "a bank named only by a rejected row is not registered"


@pytest.mark.usefixtures("national_id")
def test_dry_run_reports_the_same_and_writes_nothing(session: Session, manager: User) -> None:
    session.commit()
    before = registry_counts(session)
    events_before = count(session, AuditEvent)
    data = generate_registrants_csv(40, seed=1, invalid_share=0.2) + b"BAD REF,,x,,,,,,,,\n"
    report = import_registrants(session, manager, data, dry_run=True)
    assert (report.rows, report.created, report.rejected, report.dry_run) == (41, 40, 1, True)
    assert report.errors[0].row == 42
    assert "would import 40" in report.summary()
    session.rollback()
    assert registry_counts(session) == before
    assert count(session, AuditEvent) == events_before
    real = import_registrants(session, manager, data)
    assert (real.created, real.rejected) == (report.created, report.rejected)


@pytest.mark.usefixtures("national_id")
def test_reimport_updates_instead_of_duplicating(session: Session, manager: User) -> None:
    first = csv(
        "R1,individual,Amina,a@example.org,+254712345678;+254722345678,National ID,12345678,"
        "Equity Bank,EQBLKENA,1111,",
        "R2,individual,Brian,,+254733345678,,,,,,",
    )
    import_registrants(session, manager, first)
    service.disable_phone(session, manager, "R1", "+254722345678")
    session.commit()
    second = csv(
        "R1,,Amina Hassan,,+254722345678;+254799345678,National ID,87654321,,,2222,",
        "R3,individual,Grace,,,,,,,,",
    )
    report = import_registrants(session, manager, second)
    session.commit()
    assert (report.created, report.updated, report.rejected) == (1, 1, 0)
    assert count(session, Registrant) == 3
    amina = reload(session, "R1")
    assert (amina.name, amina.email) == ("Amina Hassan", None)
    assert [(p.number, p.disabled_at is not None) for p in amina.phones] == [
        ("+254722345678", True),
        ("+254799345678", False),
    ]
    assert [i.value for i in amina.ids] == ["87654321"]
    assert [(a.account_number, a.bank_id) for a in amina.bank_accounts] == [("2222", None)]
    assert [p.number for p in reload(session, "R2").phones] == ["+254733345678"]


@pytest.mark.usefixtures("national_id")
def test_columns_absent_from_the_file_leave_data_alone(session: Session, manager: User) -> None:
    import_registrants(
        session, manager, csv("R1,individual,Amina,a@example.org,+254712345678,,,,,1111,")
    )
    report = import_registrants(session, manager, csv("R1,Amina H", header="reference,name"))
    assert report.updated == 1
    amina = reload(session, "R1")
    assert (amina.name, amina.email) == ("Amina H", "a@example.org")
    assert [p.number for p in amina.phones] == ["+254712345678"]
    assert [a.account_number for a in amina.bank_accounts] == ["1111"]


def test_kind_cannot_change_on_reimport(session: Session, manager: User) -> None:
    import_registrants(session, manager, csv("H1,group,Home", header="reference,kind,name"))
    report = import_registrants(
        session, manager, csv("H1,individual,Home", header="reference,kind,name")
    )
    assert report.errors == [
        FieldError("kind", "'H1' is registered as group; kind cannot change", 2)
    ]


GROUP_HEADER = "reference,kind,name,group_reference"


@pytest.mark.parametrize("chunk_rows", [2, 5000])
def test_groups_and_members_in_any_order_and_across_chunks(
    session: Session, manager: User, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    monkeypatch.setattr(importer, "CHUNK_ROWS", chunk_rows)
    service.create_registrant(
        session,
        manager,
        RegistrantCreate(reference="H0", name="Old home", kind=RegistrantKind.GROUP),
    )
    report = import_registrants(
        session,
        manager,
        csv(
            "M1,individual,Member one,H1",
            "M2,individual,Member two,H0",
            "M3,individual,Member three,H1",
            "H1,group,New home,",
            "M4,individual,Member four,M1",
            "M5,individual,Member five,H9",
            "H2,group,Broken home,H0",
            "M6,individual,Member six,H2",
            header=GROUP_HEADER,
        ),
    )
    assert (report.created, report.rejected) == (4, 4)
    assert [(e.row, e.field, e.reason) for e in report.errors] == [
        (6, "group_reference", "'M1' is an individual (row 2), not a group"),
        (7, "group_reference", "no group 'H9' in this file or in the registry"),
        (8, "group_reference", "a group cannot be a member of a group"),
        (9, "group_reference", "'H2' on row 8 was rejected"),
    ]
    members = {
        group: [m.reference for m in service.list_group_members(session, manager, group)]
        for group in ("H0", "H1")
    }
    assert members == {"H0": ["M2"], "H1": ["M1", "M3"]}
    assert count(session, GroupMembership) == 3


def test_reimport_moves_a_member_and_an_empty_cell_removes_it(
    session: Session, manager: User
) -> None:
    rows = ["H1,group,One,", "H2,group,Two,", "M1,individual,Member,H1"]
    import_registrants(session, manager, csv(*rows, header=GROUP_HEADER))
    import_registrants(session, manager, csv("M1,,Member,H2", header=GROUP_HEADER))
    assert [m.reference for m in service.list_group_members(session, manager, "H2")] == ["M1"]
    assert service.list_group_members(session, manager, "H1") == []
    import_registrants(session, manager, csv("M1,,Member,", header=GROUP_HEADER))
    assert count(session, GroupMembership) == 0


def test_a_bank_named_only_by_rejected_rows_is_not_registered(
    session: Session, manager: User
) -> None:
    header = "reference,name,group_reference,bank_name,account_number"
    rows = ["M1,Member,H9,Lost Bank,12345", "M2,Other,,Other Bank,1234", "M3,Third,,,"]
    report = import_registrants(session, manager, csv(*rows, header=header))
    assert (report.created, report.rejected) == (2, 1)
    assert [(e.row, e.field) for e in report.errors] == [(2, "group_reference")]
    assert list(session.scalars(select(Bank.name))) == ["Other Bank"]


def test_a_registered_individual_is_not_a_group(session: Session, manager: User) -> None:
    import_registrants(session, manager, csv("P1,individual,Person,", header=GROUP_HEADER))
    report = import_registrants(session, manager, csv("M1,,Member,P1", header=GROUP_HEADER))
    assert report.errors == [
        FieldError("group_reference", "'P1' is registered as an individual, not a group", 2)
    ]


@pytest.mark.usefixtures("national_id")
def test_json_imports_nested_lists_and_reports_paths(session: Session, manager: User) -> None:
    document: list[Any] = [
        {
            "reference": "R1",
            "name": "Amina",
            "birthdate": "1980-01-01",
            "phones": ["+254712345678"],
            "ids": [{"type": NATIONAL_ID, "value": "12345678", "expiry": "2030-01-01"}],
            "bank_accounts": [
                {"iban": "GB29NWBK60161331926819", "bank_name": "NatWest", "bank_country": "GB"},
                {"account_number": "0001234", "bank_code": "EQBLKENA", "bank_name": "Equity"},
            ],
        },
        {"reference": "R2", "name": "B", "ids": [{"type": NATIONAL_ID, "value": "x"}]},
        {"reference": "R3", "name": "C", "birthdate": "1990-01-01",
         "ids": [{"type": NATIONAL_ID, "value": "12345678", "expiry": "1989-01-01"}]},
    ]  # fmt: skip
    report = import_registrants(
        session, manager, json.dumps(document).encode(), file_name="people.json"
    )
    assert (report.format, report.created, report.rejected) == ("json", 1, 2)
    assert [(e.row, e.field) for e in report.errors] == [(2, "ids[0].value"), (3, "ids[0].expiry")]
    amina = reload(session, "R1")
    assert [a.sequence for a in amina.bank_accounts] == [0, 1]
    assert amina.bank_accounts[0].iban == "GB29NWBK60161331926819"
    assert amina.ids[0].expiry_date is not None


@pytest.mark.usefixtures("national_id")
def test_one_audit_event_records_a_real_import(
    session: Session, manager: User, tmp_path: Path
) -> None:
    path = tmp_path / "batch-7.csv"
    path.write_bytes(csv("R1,individual,Amina,,,,,,,,", "R1,individual,Twice,,,,,,,,"))
    import_registrants(session, manager, path)
    [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "registry.imported"))
    assert event.actor_name == "maker"
    assert event.data == {
        "file": "batch-7.csv",
        "format": "csv",
        "dry_run": False,
        "rows": 2,
        "created": 1,
        "updated": 0,
        "rejected": 1,
        "banks_created": 0,
    }


@pytest.mark.parametrize(
    "data",
    [
        "reference,name\nR1,Amina\nR2,Zoé\n".encode("latin-1"),
        b'reference,name\nR1,Amina\nR2,"Kamau\n',
        b"reference,name,nickname\nR1,Amina,A\n",
    ],
    ids=["latin-1", "malformed", "unknown-column"],
)
def test_an_unreadable_file_writes_nothing(session: Session, manager: User, data: bytes) -> None:
    with pytest.raises(ImportRejected):
        import_registrants(session, manager, data, fmt="csv")
    assert count(session, Registrant) == 0
    assert count(session, AuditEvent) == 0


def test_a_malformed_row_late_in_a_big_file_writes_nothing(
    session: Session, manager: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK_ROWS", 10)
    data = generate_registrants_csv(50, seed=2) + b'BEN-9,individual,"Broken\n'
    with pytest.raises(ImportRejected, match="line 52"):
        import_registrants(session, manager, data)
    assert count(session, Registrant) == 0


def test_viewers_may_not_import(session: Session, viewer: User) -> None:
    with pytest.raises(PermissionDenied):
        import_registrants(session, viewer, b"reference,name\nR1,A\n")
    assert count(session, Registrant) == 0


@pytest.mark.usefixtures("national_id")
def test_the_sample_fixture_imports_cleanly(session: Session, manager: User) -> None:
    report = import_registrants(session, manager, FIXTURE)
    assert report.rejected == 0, report.errors
    assert report.created == report.rows > 0
    assert count(session, GroupMembership) > 0
