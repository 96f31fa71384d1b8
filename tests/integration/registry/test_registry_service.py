"""Registry use cases on SQLite and PostgreSQL: rules, conflicts, permissions, audit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditEvent, events_for
from g2p_payment_phee.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from g2p_payment_phee.registry import service
from g2p_payment_phee.registry.models import Bank, Gender, Registrant, RegistrantKind
from g2p_payment_phee.registry.schemas import RegistrantCreate, RegistrantUpdate
from g2p_payment_phee.users.models import User

NATIONAL_ID_REGEX = r"[0-9]{8}"


def person(session: Session, actor: User, reference: str = "R1", **fields: Any) -> Registrant:
    data = RegistrantCreate(reference=reference, **({"name": "Amina Hassan"} | fields))
    return service.create_registrant(session, actor, data)


def test_id_types_are_unique_by_name_and_their_regex_must_compile(
    session: Session, manager: User
) -> None:
    created = service.create_id_type(
        session, manager, name=" National ID ", validation_regex=NATIONAL_ID_REGEX
    )
    assert created.name == "National ID"
    with pytest.raises(Conflict, match="already exists"):
        service.create_id_type(session, manager, name="national id")
    with pytest.raises(ValidationFailed) as excinfo:
        service.create_id_type(session, manager, name="Passport", validation_regex="[A-Z")
    assert excinfo.value.errors[0].field == "validation_regex"
    assert [t.name for t in service.list_id_types(session, manager)] == ["National ID"]


def test_ensure_id_type_is_idempotent_but_refuses_another_regex(
    session: Session, admin: User
) -> None:
    first = service.ensure_id_type(session, admin, "National ID", NATIONAL_ID_REGEX)
    assert service.ensure_id_type(session, admin, "National ID", NATIONAL_ID_REGEX) is first
    with pytest.raises(Conflict, match="exists with regex"):
        service.ensure_id_type(session, admin, "National ID", r"[0-9]{9}")
    created = session.scalar(select(func.count()).where(AuditEvent.action == "id_type.created"))
    assert created == 1


def test_create_registrant_normalises_and_audits(session: Session, manager: User) -> None:
    registrant = person(
        session,
        manager,
        " R-1 ",
        name=None,
        given_name="Amina",
        family_name="Hassan",
        email="Amina@Example.ORG",
        birthdate=date(1980, 1, 2),
        gender=Gender.FEMALE,
    )
    assert (registrant.reference, registrant.name) == ("R-1", "Amina Hassan")
    assert registrant.email == "Amina@example.org"
    assert registrant.kind is RegistrantKind.INDIVIDUAL
    [event] = events_for(session, registrant)
    assert (event.action, event.actor_name, event.data["reference"]) == (
        "registrant.created",
        "maker",
        "R-1",
    )


def test_create_registrant_reports_every_bad_field_and_writes_nothing(
    session: Session, manager: User
) -> None:
    data = RegistrantCreate(reference="bad ref", name="", email="nope", birthdate=date(2999, 1, 1))
    with pytest.raises(ValidationFailed) as excinfo:
        service.create_registrant(session, manager, data)
    fields = {error.field for error in excinfo.value.errors}
    assert fields == {"reference", "name", "email", "birthdate"}
    assert session.scalar(select(func.count()).select_from(Registrant)) == 0


def test_a_reference_is_used_once(session: Session, manager: User) -> None:
    person(session, manager)
    with pytest.raises(Conflict, match="'R1' already exists"):
        person(session, manager)


def test_update_changes_only_the_fields_given(session: Session, manager: User) -> None:
    person(session, manager, email="a@example.org", address="Box 1")
    updated = service.update_registrant(
        session, manager, "R1", RegistrantUpdate(address=None, email="b@EXAMPLE.org")
    )
    assert (updated.name, updated.address, updated.email) == (
        "Amina Hassan",
        None,
        "b@example.org",
    )
    with pytest.raises(ValidationFailed, match="name: is required"):
        service.update_registrant(session, manager, "R1", RegistrantUpdate(name=" "))
    with pytest.raises(NotFound, match="no registrant with reference 'R9'"):
        service.update_registrant(session, manager, "R9", RegistrantUpdate(name="X"))


def test_a_birthdate_may_not_move_past_an_id_expiry(session: Session, manager: User) -> None:
    service.create_id_type(session, manager, name="Passport")
    person(session, manager)
    service.set_registrant_id(
        session, manager, "R1", id_type="Passport", value="A1", expiry_date=date(2001, 1, 1)
    )
    with pytest.raises(ValidationFailed, match="not after the birthdate 2005-01-01"):
        service.update_registrant(
            session, manager, "R1", RegistrantUpdate(birthdate=date(2005, 1, 1))
        )


def test_registrant_ids_are_one_per_type_and_checked_against_the_regex(
    session: Session, manager: User
) -> None:
    service.create_id_type(session, manager, name="National ID", validation_regex="[0-9]{8}")
    person(session, manager)
    first = service.set_registrant_id(
        session, manager, "R1", id_type="national id", value=" 12345678 "
    )
    second = service.set_registrant_id(
        session, manager, "R1", id_type="National ID", value="87654321"
    )
    assert first.id == second.id
    registrant = service.get_registrant(session, manager, "R1")
    assert [(i.id_type.name, i.value) for i in registrant.ids] == [("National ID", "87654321")]
    with pytest.raises(ValidationFailed, match="does not match the National ID format"):
        service.set_registrant_id(session, manager, "R1", id_type="National ID", value="1234")
    with pytest.raises(NotFound, match="no ID type 'Voter card'"):
        service.set_registrant_id(session, manager, "R1", id_type="Voter card", value="1")


def test_phones_are_e164_unique_and_can_be_disabled_and_enabled(
    session: Session, manager: User
) -> None:
    person(session, manager)
    first = service.add_phone(session, manager, "R1", "+254 712 345 678")
    second = service.add_phone(session, manager, "R1", "0722345678", region="KE")
    assert (first.number, first.sequence) == ("+254712345678", 0)
    assert (second.number, second.sequence) == ("+254722345678", 1)
    with pytest.raises(Conflict, match="already has the phone number"):
        service.add_phone(session, manager, "R1", "+254712345678")
    disabled = service.disable_phone(session, manager, "R1", "+254 712 345 678")
    assert disabled.disabled_at is not None
    assert service.disable_phone(session, manager, "R1", "+254712345678") is disabled
    assert service.enable_phone(session, manager, "R1", "+254712345678").disabled_at is None
    with pytest.raises(NotFound, match="has no phone number"):
        service.disable_phone(session, manager, "R1", "+254733345678")
    actions = [e.action for e in events_for(session, first.registrant)]
    assert actions.count("registrant.phone_disabled") == 1
    assert actions.count("registrant.phone_enabled") == 1


def test_bank_accounts_find_or_register_their_bank(session: Session, manager: User) -> None:
    person(session, manager)
    first = service.add_bank_account(
        session,
        manager,
        "R1",
        account_number="0123 4567",
        bank_name="Equity Bank",
        bank_code="eqblkena",
        bank_country="ke",
    )
    by_code = service.add_bank_account(
        session, manager, "R1", account_number="76543210", bank_code="EQBLKENA"
    )
    by_iban = service.add_bank_account(session, manager, "R1", iban="de89 3704 0044 0532 0130 00")
    assert first.account_number == "01234567"
    assert first.bank_id == by_code.bank_id is not None
    assert (by_iban.account_number, by_iban.iban, by_iban.bank_id) == (
        "DE89370400440532013000",
        "DE89370400440532013000",
        None,
    )
    assert [a.sequence for a in (first, by_code, by_iban)] == [0, 1, 2]
    assert session.scalar(select(func.count()).select_from(Bank)) == 1


@pytest.mark.parametrize(
    ("kwargs", "field", "reason"),
    [
        ({}, "account_number", "is required (or an iban)"),
        ({"iban": "DE00123"}, "iban", "is not a valid IBAN"),
        ({"account_number": "1234", "bank_code": "NOPE"}, "bank_code", "unknown bank code"),
        ({"account_number": "1,234"}, "account_number", "must not contain a comma"),
        ({"account_number": "1234", "bank_country": "KE"}, "bank_country", "needs a bank_name"),
    ],
)
def test_bad_bank_accounts_say_which_field(
    session: Session, manager: User, kwargs: dict[str, str], field: str, reason: str
) -> None:
    person(session, manager)
    with pytest.raises(ValidationFailed) as excinfo:
        service.add_bank_account(session, manager, "R1", **kwargs)
    assert [(e.field, reason in e.reason) for e in excinfo.value.errors] == [(field, True)]


def test_a_bank_code_may_not_contradict_the_named_bank(session: Session, manager: User) -> None:
    person(session, manager)
    service.add_bank_account(
        session, manager, "R1", account_number="1111", bank_name="KCB", bank_code="KCBLKENX"
    )
    with pytest.raises(ValidationFailed, match="registered with code 'KCBLKENX', not 'OTHER'"):
        service.add_bank_account(
            session, manager, "R1", account_number="2222", bank_name="kcb", bank_code="OTHER"
        )


def test_groups_have_individual_members(session: Session, manager: User) -> None:
    household = person(session, manager, "H1", name="Hassan household", kind=RegistrantKind.GROUP)
    person(session, manager, "R2", name="B")
    person(session, manager, "R1", name="A")
    service.add_group_member(session, manager, "H1", "R2", relationship_to_head="son")
    service.add_group_member(session, manager, "H1", "R1")
    members = service.list_group_members(session, manager, "H1")
    assert [m.reference for m in members] == ["R1", "R2"]
    with pytest.raises(Conflict, match="already a member"):
        service.add_group_member(session, manager, "H1", "R1")
    with pytest.raises(ValidationFailed, match="is an individual, not a group"):
        service.add_group_member(session, manager, "R1", "R2")
    with pytest.raises(ValidationFailed, match="members are individuals"):
        service.add_group_member(session, manager, "H1", "H1")
    assert [e.action for e in events_for(session, household)].count("registrant.member_added") == 2


def test_search_by_reference_name_id_value_and_phone_with_pages(
    session: Session, manager: User, viewer: User
) -> None:
    service.create_id_type(session, manager, name="National ID")
    for index in range(1, 8):
        person(session, manager, f"R{index}", name=f"Person {index} 100%")
    person(session, manager, "X1", name="Grace Wanjiru", kind=RegistrantKind.GROUP)
    service.set_registrant_id(session, manager, "R3", id_type="National ID", value="12345678")
    service.add_phone(session, manager, "R5", "+254712345678")

    def refs(**kwargs: Any) -> list[str]:
        page = service.search_registrants(session, viewer, **kwargs)
        return [r.reference for r in page.items]

    assert refs(query="wanJIRU") == ["X1"]
    assert refs(query="X") == ["X1"]
    assert refs(query="12345678") == ["R3"]
    assert refs(query="+254 712 345 678") == ["R5"]
    assert refs(query="100%", page_size=3, page=3) == ["R7"]
    page = service.search_registrants(session, viewer, query="person", page_size=3)
    assert (page.total, page.pages, len(page.items)) == (7, 3, 3)
    assert refs(kind=RegistrantKind.GROUP) == ["X1"]
    assert refs(query="R_") == []
    with pytest.raises(ValidationFailed, match="page_size between 1 and 500"):
        service.search_registrants(session, viewer, page_size=501)


def test_get_registrant_loads_everything_or_says_not_found(
    session: Session, manager: User, viewer: User
) -> None:
    person(session, manager)
    service.add_phone(session, manager, "R1", "+254712345678")
    service.add_bank_account(session, manager, "R1", account_number="1234", bank_name="KCB")
    session.expunge_all()
    registrant = service.get_registrant(session, viewer, " R1 ")
    session.expunge_all()
    assert [p.number for p in registrant.phones] == ["+254712345678"]
    assert registrant.bank_accounts[0].bank is not None
    assert registrant.bank_accounts[0].bank.name == "KCB"
    with pytest.raises(NotFound):
        service.get_registrant(session, viewer, "R2")


MUTATIONS: list[tuple[str, Callable[[Session, User], object]]] = [
    ("create_id_type", lambda s, u: service.create_id_type(s, u, name="Passport")),
    ("ensure_id_type", lambda s, u: service.ensure_id_type(s, u, "Passport")),
    ("create_registrant", lambda s, u: person(s, u, "R2")),
    ("update_registrant", lambda s, u: service.update_registrant(s, u, "R1", RegistrantUpdate())),
    ("add_group_member", lambda s, u: service.add_group_member(s, u, "R1", "R1")),
    (
        "set_registrant_id",
        lambda s, u: service.set_registrant_id(s, u, "R1", id_type="X", value="1"),
    ),
    ("add_phone", lambda s, u: service.add_phone(s, u, "R1", "+254712345678")),
    ("disable_phone", lambda s, u: service.disable_phone(s, u, "R1", "+254712345678")),
    ("enable_phone", lambda s, u: service.enable_phone(s, u, "R1", "+254712345678")),
    ("add_bank_account", lambda s, u: service.add_bank_account(s, u, "R1", account_number="1234")),
]


@pytest.mark.parametrize(("name", "mutation"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_viewers_and_approvers_may_not_change_the_registry(
    session: Session,
    manager: User,
    viewer: User,
    approver: User,
    name: str,
    mutation: Callable[[Session, User], object],
) -> None:
    person(session, manager)
    for user in (viewer, approver):
        with pytest.raises(PermissionDenied, match="may not manage registry"):
            mutation(session, user)


def test_viewers_may_read(session: Session, manager: User, viewer: User) -> None:
    person(session, manager)
    assert service.get_registrant(session, viewer, "R1").reference == "R1"
    assert service.list_id_types(session, viewer) == []
    assert service.list_group_members(session, viewer, "R1") == []
