"""The end-to-end demo on the embedded default: a fresh SQLite database, no servers.

It builds what a program team would: users with separate maker and checker roles, a registry
imported from a generated file (with a few rows the import must refuse), a program, a cycle and
approved entitlements. Later issues extend it until it pays people.
"""

from __future__ import annotations

import csv
import io
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.db import make_engine, make_session_factory, migrate, unit_of_work
from g2p_payment_phee.errors import BusinessRuleViolation, PermissionDenied
from g2p_payment_phee.imports import ImportReport
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.models import Cycle, ManagerKind, TargetType
from g2p_payment_phee.registry import service as registry
from g2p_payment_phee.registry.importer import import_registrants
from g2p_payment_phee.registry.models import BankAccount, Phone, Registrant, RegistrantId
from g2p_payment_phee.registry.sample_data import generate_registrants_csv
from g2p_payment_phee.users import service as users
from g2p_payment_phee.users.models import Role, User

PROGRAM = "Cash for Nutrition (demo)"
CURRENCY = "KES"
AMOUNT = Decimal(3000)
NATIONAL_ID_REGEX = r"[0-9]{8}"
INVALID_ROWS = (
    # reference, what is wrong: rows the import must refuse with a precise reason
    ("bad-iban", "iban", "DE00 1234 5678 9012 3456 78"),
    ("bad-phone", "phone", "+254 12"),
    ("bad-email", "email", "not-an-email@"),
    ("bad-id", "id_value", "12AB"),
)


@dataclass
class DemoResult:
    """What the demo built, for the summary table."""

    database_url: str
    passwords: dict[str, str]
    import_report: ImportReport
    registrants: int = 0
    with_bank_account: int = 0
    with_phone: int = 0
    with_national_id: int = 0
    enrolled: int = 0
    maker_checker_refusal: str = ""
    cycle_state: str = ""
    approved: int = 0
    approved_amount: Decimal = Decimal(0)
    notes: list[str] = field(default_factory=list)


def demo_database(data_dir: Path) -> str:
    """A fresh SQLite file for the demo (removed first, so the demo can run again)."""
    folder = data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("demo.sqlite3*"):
        stale.unlink()
    return f"sqlite:///{folder / 'demo.sqlite3'}"


def run_demo(
    database_url: str, *, registrants: int = 2000, seed: int = 7, say: Callable[[str], None] = print
) -> DemoResult:
    """Build the demo program from nothing; each step commits like an operator's command."""
    engine = make_engine(database_url)
    migrate(engine)
    factory = make_session_factory(engine)
    passwords = {name: secrets.token_urlsafe(12) for name in ("admin", "maker", "checker")}
    with unit_of_work(factory) as session:
        _create_users(session, passwords)
        say("users: admin (admin), maker (program_manager), checker (approver)")
    with unit_of_work(factory) as session:
        admin = users.get_user(session, "admin")
        registry.ensure_id_type(session, admin, "National ID", NATIONAL_ID_REGEX)
        data = _with_invalid_rows(
            generate_registrants_csv(registrants, seed=seed, invalid_share=0.02)
        )
        report = import_registrants(session, admin, data, fmt="csv")
        say(f"registry import: {report.created} registrants imported, {report.rejected} refused")
    result = DemoResult(database_url=database_url, passwords=passwords, import_report=report)
    with unit_of_work(factory) as session:
        cycle = _program_and_cycle(session, say)
    _approve(factory, cycle.id, result, say)
    with unit_of_work(factory) as session:
        _count(session, result)
    engine.dispose()
    return result


def _create_users(session: Session, passwords: dict[str, str]) -> None:
    admin = users.create_user(
        session, None, username="admin", password=passwords["admin"], role=Role.ADMIN
    )
    users.create_user(
        session, admin, username="maker", password=passwords["maker"], role=Role.PROGRAM_MANAGER
    )
    users.create_user(
        session, admin, username="checker", password=passwords["checker"], role=Role.APPROVER
    )


def _with_invalid_rows(data: bytes) -> bytes:
    """Append rows that break one rule each (and are otherwise valid)."""
    text = data.decode("utf-8")
    header = next(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    for reference, column, value in INVALID_ROWS:
        row = dict.fromkeys(header, "")
        row.update(reference=f"DEMO-{reference}", kind="individual", name=f"Demo {reference}")
        if column == "id_value":
            row["id_type"] = "National ID"
        if column == "iban":
            row["account_number"] = "12345678"
        row[column] = value
        writer.writerow(row)
    return (text.rstrip("\n") + "\n" + out.getvalue()).encode("utf-8")


def _program_and_cycle(session: Session, say: Callable[[str], None]) -> Cycle:
    maker = users.get_user(session, "maker")
    program = programs.create_program(
        session,
        maker,
        name=PROGRAM,
        currency=CURRENCY,
        target_type=TargetType.INDIVIDUAL,
        manager_kind=ManagerKind.PHEE,
    )
    enrolled = programs.enrol(session, maker, program)
    cycle = programs.create_cycle(
        session, maker, program, name="2026-12", start=date(2026, 12, 1), end=date(2026, 12, 31)
    )
    added = programs.add_fixed_entitlements(session, maker, cycle, amount=AMOUNT)
    programs.submit_cycle(session, maker, cycle)
    say(
        f"program: {enrolled} enrolled; cycle {cycle.name}: {added} entitlements submitted by maker"
    )
    return cycle


def _approve(
    factory: sessionmaker[Session],
    cycle_id: uuid.UUID,
    result: DemoResult,
    say: Callable[[str], None],
) -> None:
    """The maker is refused (maker–checker), then the checker approves."""
    with unit_of_work(factory) as session:
        cycle = session.get(Cycle, cycle_id)
        assert cycle is not None
        try:
            programs.approve_cycle(session, users.get_user(session, "maker"), cycle)
        except (BusinessRuleViolation, PermissionDenied) as refusal:
            result.maker_checker_refusal = refusal.message
            say(f"maker tries to approve: refused — {refusal.message}")
        session.rollback()
    with unit_of_work(factory) as session:
        cycle = session.get(Cycle, cycle_id)
        assert cycle is not None
        checker: User = users.get_user(session, "checker")
        result.approved = programs.approve_cycle(session, checker, cycle)
        result.cycle_state = cycle.state
        totals = programs.cycle_totals(session, cycle)
        result.approved_amount = sum(totals.amounts.values(), start=Decimal(0))
        say(f"checker approves: {result.approved} entitlements approved")


def _count(session: Session, result: DemoResult) -> None:
    def count(query: Select[tuple[int]]) -> int:
        return int(session.scalar(query) or 0)

    result.registrants = count(select(func.count()).select_from(Registrant))
    result.with_bank_account = count(select(func.count(func.distinct(BankAccount.registrant_id))))
    result.with_phone = count(select(func.count(func.distinct(Phone.registrant_id))))
    result.with_national_id = count(select(func.count(func.distinct(RegistrantId.registrant_id))))
    result.enrolled = programs.enrolled_count(session, programs.get_program(session, PROGRAM))
