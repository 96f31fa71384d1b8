"""ID types on SQLite and PostgreSQL: create, list, disable; their names are unique and their
patterns compile; a disabled type takes no new IDs (on import or by hand) but keeps its IDs."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditAction, AuditEvent
from g2p_payment_phee.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from g2p_payment_phee.payments.payee_rules import payee_rule
from g2p_payment_phee.payments.payees import PayeeOption
from g2p_payment_phee.registry import service
from g2p_payment_phee.registry.importer import import_registrants
from g2p_payment_phee.registry.models import IdType, Registrant, RegistrantId
from g2p_payment_phee.users.models import User

HEADER = "reference,kind,name,id_type,id_value"


def rows(*lines: str) -> bytes:
    return "\n".join([HEADER, *lines]).encode()


def id_type_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(IdType)) or 0


def events(session: Session, action: AuditAction) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_a_new_type_is_listed_with_its_pattern_and_description(
    session: Session, manager: User, viewer: User
) -> None:
    service.create_id_type(
        session, manager, name="Passport", validation_regex=" [A-Z][0-9]{7} ", description="ICAO"
    )
    service.create_id_type(session, manager, name="National ID")
    listed = service.list_id_types(session, viewer)
    assert [(t.name, t.validation_regex, t.description, t.enabled) for t in listed] == [
        ("National ID", None, "", True),
        ("Passport", "[A-Z][0-9]{7}", "ICAO", True),
    ]
    assert [e.data["name"] for e in events(session, AuditAction.ID_TYPE_CREATED)] == [
        "Passport",
        "National ID",
    ]


def test_a_taken_name_is_a_conflict_whatever_its_case_or_state(
    session: Session, manager: User
) -> None:
    service.create_id_type(session, manager, name="National ID")
    with pytest.raises(Conflict, match="'National ID' already exists"):
        service.create_id_type(session, manager, name="  NATIONAL id ")
    service.disable_id_type(session, manager, "national id")
    with pytest.raises(Conflict, match=r"already exists \(disabled\)"):
        service.create_id_type(session, manager, name="National ID")
    assert id_type_count(session) == 1


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"name": "Passport", "validation_regex": "[A-Z"}, "validation_regex", "not a valid"),
        ({"name": "Passport", "validation_regex": "(?P<x"}, "validation_regex", "not a valid"),
        ({"name": "   "}, "name", "is required"),
        ({"name": "ID, national"}, "name", "comma"),
        ({"name": "x" * 101}, "name", "at most 100"),
        ({"name": "Tab\there"}, "name", "control characters"),
        ({"name": "Passport", "description": "d" * 501}, "description", "at most 500"),
    ],
)
def test_bad_input_names_its_field_and_writes_nothing(
    session: Session, manager: User, fields: dict[str, str], field: str, reason: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        service.create_id_type(session, manager, **fields)
    assert [e.field for e in raised.value.errors] == [field]
    assert reason in raised.value.errors[0].reason
    assert id_type_count(session) == 0
    assert events(session, AuditAction.ID_TYPE_CREATED) == []


def test_every_bad_field_is_reported_at_once(session: Session, manager: User) -> None:
    with pytest.raises(ValidationFailed) as raised:
        service.create_id_type(session, manager, name="", validation_regex="(")
    assert sorted(e.field for e in raised.value.errors) == ["name", "validation_regex"]


def test_disabling_is_audited_once_and_unknown_names_are_not_found(
    session: Session, manager: User
) -> None:
    service.create_id_type(session, manager, name="Passport")
    disabled = service.disable_id_type(session, manager, " passport ")
    assert not disabled.enabled
    assert disabled.disabled_at is not None
    assert service.disable_id_type(session, manager, "Passport").disabled_at == disabled.disabled_at
    [event] = events(session, AuditAction.ID_TYPE_DISABLED)
    assert event.data == {"name": "Passport", "registrant_ids_kept": 0}
    with pytest.raises(NotFound, match=r"no ID type 'Visa' \(known: Passport\)"):
        service.disable_id_type(session, manager, "Visa")
    assert [t.name for t in service.list_id_types(session, manager, enabled_only=True)] == []


@pytest.mark.parametrize(
    "use",
    [
        lambda s, u: service.create_id_type(s, u, name="Visa"),
        lambda s, u: service.disable_id_type(s, u, "Passport"),
    ],
)
def test_approvers_and_viewers_may_not_manage_id_types(
    session: Session, manager: User, approver: User, viewer: User, use
) -> None:
    service.create_id_type(session, manager, name="Passport")
    for who in (approver, viewer):
        with pytest.raises(PermissionDenied, match="may not manage registry"):
            use(session, who)
    assert service.get_id_type(session, "Passport").enabled


def test_the_pattern_validates_ids_on_import(session: Session, manager: User) -> None:
    service.create_id_type(session, manager, name="National ID", validation_regex="[0-9]{8}")
    report = import_registrants(
        session,
        manager,
        rows(
            "R1,individual,Amina,national id,12345678",
            "R2,individual,Brian,National ID,1234",
            "R3,individual,Grace,Voter card,V1",
        ),
    )
    assert (report.created, report.rejected) == (1, 2)
    assert [(e.row, e.field) for e in report.errors] == [(3, "id_value"), (4, "id_type")]
    assert "does not match the National ID format [0-9]{8}" in report.errors[0].reason
    assert "unknown ID type 'Voter card' (known: National ID)" in report.errors[1].reason


def test_a_fresh_registry_says_no_type_is_defined(session: Session, manager: User) -> None:
    report = import_registrants(session, manager, rows("R1,individual,Amina,National ID,1"))
    assert report.rejected == 1
    assert "(known: none defined)" in report.errors[0].reason


def test_a_disabled_type_takes_no_new_ids_but_keeps_its_own(
    session: Session, manager: User
) -> None:
    service.create_id_type(session, manager, name="Passport", validation_regex="[A-Z][0-9]{7}")
    service.create_id_type(session, manager, name="National ID")
    first = import_registrants(session, manager, rows("R1,individual,Amina,Passport,A1234567"))
    assert first.created == 1
    service.disable_id_type(session, manager, "Passport")
    [event] = events(session, AuditAction.ID_TYPE_DISABLED)
    assert event.data["registrant_ids_kept"] == 1

    report = import_registrants(
        session,
        manager,
        rows("R2,individual,Brian,Passport,B1234567", "R3,individual,Grace,National ID,N1"),
    )
    assert (report.created, report.rejected) == (1, 1)
    [error] = report.errors
    assert (error.row, error.field) == (2, "id_type")
    assert error.reason == "the ID type 'Passport' is disabled: it takes no new IDs"
    with pytest.raises(ValidationFailed, match="is disabled"):
        service.set_registrant_id(session, manager, "R3", id_type="passport", value="C1234567")
    assert session.scalar(select(func.count()).select_from(RegistrantId)) == 2

    # a file without ID columns leaves the registrant's IDs alone: the Passport stays
    assert import_registrants(session, manager, b"reference,name\nR1,Amina H\n").updated == 1
    session.expire_all()
    amina = session.scalars(select(Registrant).where(Registrant.reference == "R1")).one()
    assert [(i.id_type.name, i.value) for i in amina.ids] == [("Passport", "A1234567")]


def test_a_disabled_type_still_resolves_payees_with_its_pattern(
    session: Session, manager: User
) -> None:
    service.create_id_type(session, manager, name="National ID", validation_regex="[0-9]{8}")
    service.disable_id_type(session, manager, "National ID")
    check = payee_rule(session, PayeeOption.REGISTRANT_ID, "", "National ID").checker()
    assert check("12345678") == ("12345678", None)
    assert check("1234") == (None, "National ID '1234' does not match its ID type's pattern")
