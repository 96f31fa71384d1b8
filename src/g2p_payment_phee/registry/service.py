"""Registry use cases: ID types, registrants, group members, IDs, phones and bank accounts.

Each function takes the session and the acting user, checks the user's permission, validates its
input (``ValidationFailed`` with field errors), flushes and records an audit event for every
change; the caller commits.  Bulk import lives in ``importer.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import Conflict, NotFound, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.registry import validation as v
from g2p_payment_phee.registry.banks import BankDirectory
from g2p_payment_phee.registry.models import (
    BankAccount,
    GroupMembership,
    IdStatus,
    IdType,
    Phone,
    Registrant,
    RegistrantId,
    RegistrantKind,
)
from g2p_payment_phee.registry.schemas import Page, RegistrantCreate, RegistrantUpdate
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

ID_TYPE_NAME_MAX = 100
ID_TYPE_DESCRIPTION_MAX = 500
_NAME_UNSAFE = ',"'
MAX_PAGE_SIZE = 500
_TEXT_LIMITS = {"given_name": 150, "family_name": 150, "name": 300, "address": 2000}


def create_id_type(
    session: Session,
    actor: User,
    *,
    name: str,
    validation_regex: str | None = None,
    description: str = "",
) -> IdType:
    """A new ID type; its regex (matched against whole values) must compile; names are unique
    (whatever their case, disabled types included). Every problem is reported at once, as
    ValidationFailed naming its field; nothing is written unless all is well."""
    authorize(actor, Permission.MANAGE_REGISTRY)
    checks = v.FieldChecks()
    clean_name = checks(v.clean_text, name, field="name", max_length=ID_TYPE_NAME_MAX)
    if clean_name is None and "name" not in checks.failed:
        checks.fail("name", "is required")
    elif clean_name is not None and any(char in clean_name for char in _NAME_UNSAFE):
        # the name may be written into the PHEE payment file as the payee's identifier type
        checks.fail("name", "must not contain a comma or a double quote")
    regex = (validation_regex or "").strip() or None
    if regex is not None:
        checks(v.compile_id_regex, regex)
    clean_description = checks(
        v.clean_text, description, field="description", max_length=ID_TYPE_DESCRIPTION_MAX
    )
    checks.raise_if_failed("the ID type")
    assert clean_name is not None
    _refuse_taken_name(session, clean_name)
    id_type = IdType(name=clean_name, validation_regex=regex, description=clean_description or "")
    session.add(id_type)
    try:
        session.flush()
    except IntegrityError:  # another request took the name meanwhile; the caller rolls back
        raise Conflict(
            _("an ID type named {clean_name!r} already exists").format(clean_name=clean_name)
        ) from None
    audit.record(
        session, actor, AuditAction.ID_TYPE_CREATED, id_type, {"name": clean_name, "regex": regex}
    )
    return id_type


def _refuse_taken_name(session: Session, name: str) -> None:
    taken = _id_type_named(session, name)
    if taken is None:
        return
    state = "" if taken.enabled else _(" (disabled)")
    raise Conflict(
        _("an ID type named {name!r} already exists{state}").format(name=taken.name, state=state)
    )


def ensure_id_type(
    session: Session, actor: User, name: str, regex: str | None = None, *, description: str = ""
) -> IdType:
    """The ID type of that name, created if missing; Conflict if it exists with another regex."""
    authorize(actor, Permission.MANAGE_REGISTRY)
    existing = _id_type_named(session, name.strip())
    if existing is None:
        return create_id_type(
            session, actor, name=name, validation_regex=regex, description=description
        )
    if (existing.validation_regex or None) != ((regex or "").strip() or None):
        raise Conflict(
            _("ID type {name!r} exists with regex {validation_regex!r}, not {regex!r}").format(
                name=existing.name, validation_regex=existing.validation_regex, regex=regex
            )
        )
    return existing


def list_id_types(session: Session, actor: User, *, enabled_only: bool = False) -> list[IdType]:
    """Every ID type (or only the enabled ones), by name."""
    authorize(actor, Permission.VIEW)
    query = select(IdType).order_by(IdType.name)
    if enabled_only:
        query = query.where(IdType.disabled_at.is_(None))
    return list(session.scalars(query))


def disable_id_type(session: Session, actor: User, name: str) -> IdType:
    """Refuse new registrant IDs of the type (on import and by hand) from now on; the IDs it
    has stay, and a program paying by it keeps paying. Disabling a disabled type changes
    nothing."""
    authorize(actor, Permission.MANAGE_REGISTRY)
    id_type = get_id_type(session, name)
    if not id_type.enabled:
        return id_type
    id_type.disabled_at = utcnow()
    session.flush()
    kept = session.scalar(
        select(func.count()).select_from(RegistrantId).where(RegistrantId.id_type_id == id_type.id)
    )
    audit.record(
        session,
        actor,
        AuditAction.ID_TYPE_DISABLED,
        id_type,
        {"name": id_type.name, "registrant_ids_kept": kept},
    )
    return id_type


def get_id_type(session: Session, name: str) -> IdType:
    """The ID type of that name (any case), or NotFound naming the known types."""
    found = _id_type_named(session, name.strip())
    if found is None:
        known = ", ".join(session.scalars(select(IdType.name).order_by(IdType.name)))
        raise NotFound(
            _("no ID type {name!r} (known: {known})").format(
                name=name.strip(), known=known or "none defined"
            )
        )
    return found


def _id_type_named(session: Session, name: str) -> IdType | None:
    query = select(IdType).where(func.lower(IdType.name) == name.lower())
    return session.scalars(query).first()


def create_registrant(session: Session, actor: User, data: RegistrantCreate) -> Registrant:
    """A new individual or group; ``name`` defaults to given and family names joined."""
    authorize(actor, Permission.MANAGE_REGISTRY)
    checks = v.FieldChecks()
    reference = checks(v.normalize_reference, data.reference)
    fields = _clean_fields(checks, data.model_dump(exclude={"reference", "kind"}))
    if not fields.get("name") and "name" not in checks.failed:
        checks.fail("name", "is required (or give given_name / family_name)")
    checks.raise_if_failed("the registrant")
    assert reference is not None
    if session.scalar(select(Registrant.id).where(Registrant.reference == reference)):
        raise Conflict(
            _("a registrant with reference {reference!r} already exists").format(
                reference=reference
            )
        )
    registrant = Registrant(reference=reference, kind=data.kind, **fields)
    session.add(registrant)
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.REGISTRANT_CREATED,
        registrant,
        {"reference": reference, "kind": data.kind},
    )
    return registrant


def update_registrant(
    session: Session, actor: User, reference: str, changes: RegistrantUpdate
) -> Registrant:
    """Change the fields set in ``changes`` (None clears an optional field; name is required)."""
    authorize(actor, Permission.MANAGE_REGISTRY)
    registrant = _registrant(session, reference, load_ids=True)
    checks = v.FieldChecks()
    given = changes.model_dump(include=changes.model_fields_set)
    fields = _clean_fields(checks, given)
    if "name" in given and not fields.get("name") and "name" not in checks.failed:
        checks.fail("name", "is required")
    birthdate = fields.get("birthdate", registrant.birthdate)
    for registrant_id in registrant.ids:
        if registrant_id.expiry_date is not None and birthdate is not None:
            checks(v.check_id_expiry, registrant_id.expiry_date, birthdate, field="birthdate")
    checks.raise_if_failed("the change")
    for name, value in fields.items():
        setattr(registrant, name, value)
    session.flush()
    audit.record(
        session, actor, AuditAction.REGISTRANT_UPDATED, registrant, {"fields": sorted(fields)}
    )
    return registrant


def _clean_fields(checks: v.FieldChecks, values: dict[str, Any]) -> dict[str, Any]:
    """The given descriptive fields, normalised; problems go to ``checks``."""
    fields: dict[str, Any] = {}
    for name, limit in _TEXT_LIMITS.items():
        if name in values:
            text = values[name] or ""
            multiline = name == "address"
            fields[name] = checks(
                v.clean_text, text, field=name, max_length=limit, multiline=multiline
            )
    if not fields.get("name") and (fields.get("given_name") or fields.get("family_name")):
        parts = (fields.get("given_name"), fields.get("family_name"))
        fields["name"] = " ".join(part for part in parts if part)
    if "email" in values:
        fields["email"] = checks(v.normalize_email, values["email"]) if values["email"] else None
    if "gender" in values:
        fields["gender"] = values["gender"]
    if "birthdate" in values:
        birthdate = values["birthdate"]
        today = utcnow().date()
        fields["birthdate"] = checks(v.check_birthdate, birthdate, today) if birthdate else None
    return fields


def get_registrant(session: Session, actor: User, reference: str) -> Registrant:
    """The registrant with its IDs, phones and bank accounts loaded; NotFound otherwise."""
    authorize(actor, Permission.VIEW)
    return _registrant(session, reference, load_ids=True)


def _registrant(session: Session, reference: str, *, load_ids: bool = False) -> Registrant:
    query = select(Registrant).where(Registrant.reference == reference.strip())
    if load_ids:
        query = query.options(
            selectinload(Registrant.ids).selectinload(RegistrantId.id_type),
            selectinload(Registrant.phones),
            selectinload(Registrant.bank_accounts).selectinload(BankAccount.bank),
        )
    registrant = session.scalars(query).first()
    if registrant is None:
        raise NotFound(
            _("no registrant with reference {reference!r}").format(reference=reference.strip())
        )
    return registrant


def search_registrants(
    session: Session,
    actor: User,
    *,
    query: str | None = None,
    kind: RegistrantKind | None = None,
    page: int = 1,
    page_size: int = 50,
) -> Page[Registrant]:
    """Registrants by reference (prefix), name (contains), exact ID value or phone; by reference."""
    authorize(actor, Permission.VIEW)
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationFailed(
            _("page must be >= 1 and page_size between 1 and {MAX_PAGE_SIZE}").format(
                MAX_PAGE_SIZE=MAX_PAGE_SIZE
            )
        )
    statement = select(Registrant)
    text = (query or "").strip()
    if text:
        statement = statement.where(or_(*_matches(text)))
    if kind is not None:
        statement = statement.where(Registrant.kind == kind)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    items = session.scalars(
        statement.order_by(Registrant.reference).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return Page(items=list(items), total=total, page=page, page_size=page_size)


def _matches(text: str) -> list[Any]:
    conditions: list[Any] = [
        Registrant.reference.startswith(text, autoescape=True),
        Registrant.name.icontains(text, autoescape=True),
        Registrant.id.in_(select(RegistrantId.registrant_id).where(RegistrantId.value == text)),
    ]
    try:
        number = v.normalize_phone(text)
    except ValidationFailed:
        return conditions
    conditions.append(Registrant.id.in_(select(Phone.registrant_id).where(Phone.number == number)))
    return conditions


def add_group_member(
    session: Session,
    actor: User,
    group_reference: str,
    member_reference: str,
    *,
    relationship_to_head: str | None = None,
) -> GroupMembership:
    """Make an individual a member of a group (household)."""
    authorize(actor, Permission.MANAGE_REGISTRY)
    group = _registrant(session, group_reference)
    member = _registrant(session, member_reference)
    if group.kind is not RegistrantKind.GROUP:
        v.reject("group_reference", f"{group.reference!r} is an individual, not a group")
    if member.kind is not RegistrantKind.INDIVIDUAL:
        v.reject(
            "member_reference",
            _("{reference!r} is a group; members are individuals").format(
                reference=member.reference
            ),
        )
    relationship = v.clean_text(
        relationship_to_head or "", field="relationship_to_head", max_length=60
    )
    existing = select(GroupMembership.id).where(
        GroupMembership.group_id == group.id, GroupMembership.member_id == member.id
    )
    if session.scalar(existing) is not None:
        raise Conflict(
            _("{reference!r} is already a member of {group!r}").format(
                reference=member.reference, group=group.reference
            )
        )
    membership = GroupMembership(
        group_id=group.id, member_id=member.id, relationship_to_head=relationship
    )
    session.add(membership)
    session.flush()
    audit.record(
        session, actor, AuditAction.REGISTRANT_MEMBER_ADDED, group, {"member": member.reference}
    )
    return membership


@dataclass(frozen=True)
class RegistrantName:
    """What names a registrant beside something of theirs (a payment): reference and name."""

    reference: str
    name: str


def registrant_names(
    session: Session, actor: User, registrant_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, RegistrantName]:
    """The reference and name of each of these registrants, in one query (a page of payments
    names its payees with it; ids of registrants that do not exist are left out)."""
    authorize(actor, Permission.VIEW)
    wanted = list(set(registrant_ids))
    if not wanted:
        return {}
    query = select(Registrant.id, Registrant.reference, Registrant.name).where(
        Registrant.id.in_(wanted)
    )
    return {rid: RegistrantName(reference, name) for rid, reference, name in session.execute(query)}


def list_group_members(session: Session, actor: User, group_reference: str) -> list[Registrant]:
    """The members of a group, by reference."""
    authorize(actor, Permission.VIEW)
    group = _registrant(session, group_reference)
    query = (
        select(Registrant)
        .join(GroupMembership, GroupMembership.member_id == Registrant.id)
        .where(GroupMembership.group_id == group.id)
        .order_by(Registrant.reference)
    )
    return list(session.scalars(query))


def set_registrant_id(
    session: Session,
    actor: User,
    reference: str,
    *,
    id_type: str,
    value: str,
    expiry_date: date | None = None,
) -> RegistrantId:
    """Add the registrant's ID of that type, or replace it (one ID per type)."""
    authorize(actor, Permission.MANAGE_REGISTRY)
    registrant = _registrant(session, reference, load_ids=True)
    kind = get_id_type(session, id_type)
    if not kind.enabled:
        v.reject(
            "id_type",
            _("the ID type {name!r} is disabled: it takes no new IDs").format(name=kind.name),
        )
    clean = v.validate_id_value(value, kind.validation_regex, id_type=kind.name)
    if expiry_date is not None:
        v.check_id_expiry(expiry_date, registrant.birthdate)
    current = next((i for i in registrant.ids if i.id_type_id == kind.id), None)
    if current is None:
        current = RegistrantId(registrant=registrant, id_type=kind, value=clean)
        session.add(current)
    current.value, current.expiry_date, current.status = clean, expiry_date, IdStatus.VALID
    session.flush()
    audit.record(session, actor, AuditAction.REGISTRANT_ID_SET, registrant, {"id_type": kind.name})
    return current


def add_phone(
    session: Session, actor: User, reference: str, number: str, *, region: str | None = None
) -> Phone:
    """Add a phone number (stored in E.164) after the registrant's other numbers."""
    authorize(actor, Permission.MANAGE_REGISTRY)
    registrant = _registrant(session, reference, load_ids=True)
    e164 = v.normalize_phone(number, region)
    if any(phone.number == e164 for phone in registrant.phones):
        raise Conflict(
            _("{reference!r} already has the phone number {e164}").format(
                reference=registrant.reference, e164=e164
            )
        )
    sequence = max((phone.sequence for phone in registrant.phones), default=-1) + 1
    phone = Phone(registrant=registrant, number=e164, sequence=sequence)
    session.add(phone)
    session.flush()
    audit.record(session, actor, AuditAction.REGISTRANT_PHONE_ADDED, registrant, {"number": e164})
    return phone


def disable_phone(session: Session, actor: User, reference: str, number: str) -> Phone:
    """Stop using a number for payments (kept for history); disabling twice changes nothing."""
    return _set_phone_disabled(session, actor, reference, number, disabled=True)


def enable_phone(session: Session, actor: User, reference: str, number: str) -> Phone:
    """Use a disabled number again; enabling an enabled number changes nothing."""
    return _set_phone_disabled(session, actor, reference, number, disabled=False)


def _set_phone_disabled(
    session: Session, actor: User, reference: str, number: str, *, disabled: bool
) -> Phone:
    authorize(actor, Permission.MANAGE_REGISTRY)
    registrant = _registrant(session, reference, load_ids=True)
    e164 = v.normalize_phone(number)
    phone = next((p for p in registrant.phones if p.number == e164), None)
    if phone is None:
        raise NotFound(
            _("{reference!r} has no phone number {e164}").format(
                reference=registrant.reference, e164=e164
            )
        )
    if (phone.disabled_at is not None) == disabled:
        return phone
    phone.disabled_at = utcnow() if disabled else None
    session.flush()
    action = (
        AuditAction.REGISTRANT_PHONE_DISABLED if disabled else AuditAction.REGISTRANT_PHONE_ENABLED
    )
    audit.record(session, actor, action, registrant, {"number": e164})
    return phone


def add_bank_account(
    session: Session,
    actor: User,
    reference: str,
    *,
    account_number: str | None = None,
    iban: str | None = None,
    bank_name: str | None = None,
    bank_code: str | None = None,
    bank_country: str | None = None,
) -> BankAccount:
    """Add a bank account after the others; the bank is found by code or name, or registered."""
    authorize(actor, Permission.MANAGE_REGISTRY)
    registrant = _registrant(session, reference, load_ids=True)
    checks = v.FieldChecks()
    clean_iban = checks(v.normalize_iban, iban) if iban and iban.strip() else None
    number = clean_iban
    if account_number and account_number.strip():
        number = checks(v.normalize_account_number, account_number)
    elif clean_iban is None and "iban" not in checks.failed:
        checks.fail("account_number", "is required (or an iban)")
    bank_id = _bank_id(session, checks, bank_name, bank_code, bank_country)
    checks.raise_if_failed("the bank account")
    assert number is not None
    if any(account.account_number == number for account in registrant.bank_accounts):
        raise Conflict(
            _("{reference!r} already has the account {number}").format(
                reference=registrant.reference, number=number
            )
        )
    sequence = max((a.sequence for a in registrant.bank_accounts), default=-1) + 1
    account = BankAccount(
        registrant=registrant,
        account_number=number,
        iban=clean_iban,
        bank_id=bank_id,
        sequence=sequence,
    )
    session.add(account)
    session.flush()
    audit.record(
        session, actor, AuditAction.REGISTRANT_BANK_ACCOUNT_ADDED, registrant, {"account": number}
    )
    return account


def _bank_id(
    session: Session,
    checks: v.FieldChecks,
    name: str | None,
    code: str | None,
    country: str | None,
) -> uuid.UUID | None:
    clean_code = checks(v.normalize_bank_code, code) if code and code.strip() else None
    clean_name = checks(v.clean_text, name or "", field="bank_name", max_length=200)
    clean_country = checks(v.normalize_country, country) if country and country.strip() else None
    if checks.errors or (clean_code is None and clean_name is None):
        if clean_country is not None:
            checks.fail("bank_country", "needs a bank_name or bank_code")
        return None
    directory = BankDirectory.load(session)
    bank_id = checks(directory.resolve, clean_code, clean_name, clean_country)
    directory.write_pending(session)
    return bank_id
