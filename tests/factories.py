"""Small builders of valid rows for tests; each flushes, none commits."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.programs.models import Cycle, ManagerKind, Program, TargetType
from g2p_payment_phee.registry.models import Registrant, RegistrantKind
from g2p_payment_phee.security import hash_password
from g2p_payment_phee.users.models import Role, User

PASSWORD = "correct-horse-battery"
_FAST_HASH = hash_password(PASSWORD)


def user(session: Session, username: str, role: Role, *, active: bool = True) -> User:
    """A user with the test password (hashed once per run to keep tests fast)."""
    row = User(username=username, role=role, password_hash=_FAST_HASH, active=active)
    session.add(row)
    session.flush()
    return row


def registrant(
    session: Session, reference: str, kind: RegistrantKind = RegistrantKind.INDIVIDUAL
) -> Registrant:
    """A bare registrant (no IDs, phones or accounts)."""
    row = Registrant(reference=reference, kind=kind, name=f"Person {reference}")
    session.add(row)
    session.flush()
    return row


def program(
    session: Session,
    actor: User,
    *,
    name: str = "Cash Transfer",
    budget: str | None = None,
    maker_checker: bool = True,
    target_type: TargetType = TargetType.INDIVIDUAL,
) -> Program:
    """A program in KES through the programs service."""
    from g2p_payment_phee.programs import service

    return service.create_program(
        session,
        actor,
        name=name,
        currency="KES",
        target_type=target_type,
        manager_kind=ManagerKind.PHEE,
        budget=budget,
        maker_checker=maker_checker,
    )


def cycle_with_entitlements(
    session: Session, actor: User, program_row: Program, *, beneficiaries: int, amount: str = "100"
) -> Cycle:
    """Enrol ``beneficiaries`` new registrants and give each a draft entitlement of ``amount``."""
    from g2p_payment_phee.programs import service

    start = len(session.scalars(select(Registrant.id)).all())
    for index in range(beneficiaries):
        registrant(session, f"R{start + index:06d}")
    service.enrol(session, actor, program_row)
    number = len(service.list_cycles(session, actor, program_row)) + 1
    cycle = service.create_cycle(
        session,
        actor,
        program_row,
        name=f"C{number}",
        start=date(2026, 12, 1),
        end=date(2026, 12, 31),
    )
    service.add_fixed_entitlements(session, actor, cycle, amount=amount)
    return cycle


def pending_cycle(
    session: Session,
    maker: User,
    *,
    beneficiaries: int,
    name: str = "Cash Transfer",
    budget: str | None = None,
) -> Cycle:
    """A new program's cycle of ``beneficiaries`` entitlements (100 each), submitted: it waits
    for approval."""
    from g2p_payment_phee.programs import service

    row = program(session, maker, name=name, budget=budget)
    cycle = cycle_with_entitlements(session, maker, row, beneficiaries=beneficiaries)
    service.submit_cycle(session, maker, cycle)
    return cycle


def payable_registrant(session: Session, index: int) -> Registrant:
    """A registrant with one of each payment identifier (all valid, distinct per index)."""
    from g2p_payment_phee.registry.models import BankAccount, IdType, Phone, RegistrantId

    id_type = session.scalar(select(IdType).where(IdType.name == "National ID"))
    if id_type is None:
        id_type = IdType(name="National ID", validation_regex=r"[0-9]{8}")
        session.add(id_type)
        session.flush()
    row = Registrant(
        reference=f"B{index:06d}",
        kind=RegistrantKind.INDIVIDUAL,
        name=f"Beneficiary {index}",
        email=f"person{index}@example.org",
    )
    row.phones.append(Phone(number=f"+2547{index:08d}", sequence=0))
    row.bank_accounts.append(
        BankAccount(account_number=f"{index:010d}", iban=_iban(index), sequence=0)
    )
    row.ids.append(RegistrantId(id_type=id_type, value=f"{index:08d}"))
    session.add(row)
    return row


def _iban(index: int) -> str:
    from schwifty import IBAN

    return str(IBAN.generate("DE", bank_code="37040044", account_code=f"{index:010d}").compact)


def approved_cycle(
    session: Session,
    maker: User,
    checker: User,
    program_row: Program,
    *,
    beneficiaries: int,
    amount: str = "100",
    start: int = 0,
) -> Cycle:
    """``beneficiaries`` payable registrants enrolled; a cycle, one entitlement each, approved."""
    from g2p_payment_phee.programs import service

    for index in range(start, start + beneficiaries):
        payable_registrant(session, index)
    session.flush()
    service.enrol(session, maker, program_row)
    number = len(service.list_cycles(session, maker, program_row)) + 1
    cycle = service.create_cycle(
        session,
        maker,
        program_row,
        name=f"C{number}",
        start=date(2026, 12, 1),
        end=date(2026, 12, 31),
    )
    service.add_fixed_entitlements(session, maker, cycle, amount=amount)
    service.submit_cycle(session, maker, cycle)
    service.approve_cycle(session, checker, cycle)
    return cycle
