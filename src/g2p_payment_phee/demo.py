"""The end-to-end demo on the embedded default: a fresh SQLite database, no servers.

It does what a program team would: users with separate maker and checker roles, a registry
imported from a generated file (with a few rows the import must refuse), a program paid through
Payment Hub EE, a cycle approved by the checker; then it prepares the payments, sends the
batches to the PHEE emulator running in this process (where some payees fail), syncs until
every payment is final, retries the failed ones that can now succeed, and reconciles.
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
from g2p_payment_phee.demo_g2p_connect import pay_through_g2p_connect
from g2p_payment_phee.emulator import EmulatorConfig, EmulatorServer
from g2p_payment_phee.errors import BusinessRuleViolation, PermissionDenied
from g2p_payment_phee.i18n import _
from g2p_payment_phee.imports import ImportReport
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.payments.outcomes import CycleOutcomes, cycle_outcomes
from g2p_payment_phee.payments.overview import CycleBatchTotals, cycle_payment_totals
from g2p_payment_phee.payments.prepare import PreparationReport
from g2p_payment_phee.payments.reports import SendOutcome
from g2p_payment_phee.phee.csvfile import wire_phone
from g2p_payment_phee.phee.settings import MsisdnFormat
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.models import Cycle, Entitlement, ManagerKind, TargetType
from g2p_payment_phee.registry import service as registry
from g2p_payment_phee.registry.importer import import_registrants
from g2p_payment_phee.registry.models import BankAccount, Phone, Registrant, RegistrantId
from g2p_payment_phee.registry.sample_data import generate_registrants_csv
from g2p_payment_phee.security import private_dir, write_private_file
from g2p_payment_phee.users import service as users
from g2p_payment_phee.users.models import Role, User

PROGRAM = "Cash for Nutrition (demo)"
CURRENCY = "KES"
AMOUNT = Decimal(3000)
NATIONAL_ID_REGEX = r"[0-9]{8}"
SYNC_ROUNDS = 20
INVALID_ROWS = (
    # reference, what is wrong: rows the import must refuse with a precise reason
    ("bad-iban", "iban", "DE00 1234 5678 9012 3456 78"),
    ("bad-phone", "phone", "+254 12"),
    ("bad-email", "email", "not-an-email@"),
    ("bad-id", "id_value", "12AB"),
)


UNPAID_REASON = "the registry team fixes their phone numbers and accounts for the next cycle"


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
    preparation: PreparationReport | None = None
    retry: PreparationReport | None = None
    totals: CycleBatchTotals | None = None
    outcomes: CycleOutcomes | None = None
    failure_reasons: dict[str, int] = field(default_factory=dict)
    accepted_twice: int = -1
    sync_rounds: int = 0
    cycle_state_final: str = ""
    files_folder: Path | None = None
    files_written: int = 0


def demo_database(data_dir: Path) -> str:
    """A fresh SQLite file for the demo (removed first, so the demo can run again)."""
    folder = private_dir(data_dir / "demo")
    for stale in folder.glob("demo.sqlite3*"):
        stale.unlink()
    return f"sqlite:///{folder / 'demo.sqlite3'}"


def run_demo(
    database_url: str,
    *,
    registrants: int = 2000,
    seed: int = 7,
    files_folder: Path | None = None,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Build the demo program from nothing; each step commits like an operator's command."""
    engine = make_engine(database_url)
    migrate(engine)
    factory = make_session_factory(engine)
    passwords = {name: secrets.token_urlsafe(12) for name in ("admin", "maker", "checker")}
    with unit_of_work(factory) as session:
        _create_users(session, passwords)
        say(_("users: admin (admin), maker (program_manager), checker (approver)"))
    with unit_of_work(factory) as session:
        admin = users.get_user(session, "admin")
        registry.ensure_id_type(session, admin, "National ID", NATIONAL_ID_REGEX)
        data = _with_invalid_rows(
            generate_registrants_csv(registrants, seed=seed, invalid_share=0.02)
        )
        report = import_registrants(session, admin, data, fmt="csv")
        say(
            _("registry import: {created} registrants imported, {rejected} refused").format(
                created=report.created, rejected=report.rejected
            )
        )
    result = DemoResult(database_url=database_url, passwords=passwords, import_report=report)
    result.files_folder = files_folder
    with unit_of_work(factory) as session:
        cycle = _program_and_cycle(session, say)
    _approve(factory, cycle.id, result, say)
    with unit_of_work(factory) as session:
        _count(session, result)
    with EmulatorServer(EmulatorConfig(seed=seed)) as hub:
        _pay(factory, hub, cycle.id, result, say)
        told = pay_through_g2p_connect(factory, hub, PROGRAM, CURRENCY, say)
        say(
            _("paid through G2P Connect: {succ} succ, {rjct} rjct").format(
                succ=told["succ"], rjct=told["rjct"]
            )
        )
    engine.dispose()
    return result


def point_manager_at(database_url: str, hub_base_url: str) -> sessionmaker[Session]:
    """Re-point the demo program's manager at a running emulator (to keep paying from the UI)."""
    factory = make_session_factory(make_engine(database_url))
    with unit_of_work(factory) as session:
        admin = users.get_user(session, "admin")
        program = programs.get_program(session, PROGRAM)
        configure_manager(session, admin, program, ManagerKind.PHEE, *_hub_settings(hub_base_url))
    return factory


def _pay(
    factory: sessionmaker[Session],
    hub: EmulatorServer,
    cycle_id: uuid.UUID,
    result: DemoResult,
    say: Callable[[str], None],
) -> None:
    """Prepare, send, sync to the end; retry what failed for a reason that went away."""
    with unit_of_work(factory) as session:
        admin = users.get_user(session, "admin")
        cycle = _cycle(session, cycle_id)
        configure_manager(
            session, admin, cycle.program, ManagerKind.PHEE, *_hub_settings(hub.base_url)
        )
        closed, unavailable = _failing_phones(session, cycle_id)
    hub.set_outcomes({"failing_payees": {**closed, **unavailable}})
    say(
        _("PHEE emulator at {base_url}: {count} payees will fail").format(
            base_url=hub.base_url, count=len(closed) + len(unavailable)
        )
    )
    result.preparation = _prepare(factory, cycle_id, retry=False)
    result.files_written = _write_batch_files(factory, cycle_id, result.files_folder)
    say(
        _(
            "prepare: {created} payments in {batches} batches, {skipped_count} "
            "entitlements skipped (no valid phone)"
        ).format(
            created=result.preparation.created,
            batches=result.preparation.batches,
            skipped_count=result.preparation.skipped_count,
        )
    )
    folder = result.files_folder
    where = _("written to {folder}").format(folder=folder) if folder else _("kept in the database")
    say(_("batch files (PHEE CSV, byte for byte as sent) {where}").format(where=where))
    _send_and_settle(factory, hub, cycle_id, result, say)
    hub.set_outcomes({"failing_payees": closed})
    say(
        _("the hub's outage is over for {count} payees: retrying the failed payments").format(
            count=len(unavailable)
        )
    )
    result.retry = _prepare(factory, cycle_id, retry=True)
    _send_and_settle(factory, hub, cycle_id, result, say)
    _reconcile(factory, hub, cycle_id, result, say)


def _hub_settings(base: str) -> tuple[dict[str, object], dict[str, str | None]]:
    settings: dict[str, object] = {
        "tenant_id": "gorilla",
        "payee_id_type": "phone",
        "payer_id_type": "ACCOUNT_ID",
        "payer_id": "1010101010",
        "auth_endpoint_url": f"{base}/oauth/token",
        "payment_endpoint_url": f"{base}/batchtransactions",
        "status_endpoint_url": f"{base}/api/v1/batch",
        "details_endpoint_url": f"{base}/api/v1/batch/detail",
        "username": "mifos",
    }
    return settings, {"password": "password", "authorization": "Basic Y2xpZW50Og=="}


def _failing_phones(session: Session, cycle_id: uuid.UUID) -> tuple[dict[str, str], dict[str, str]]:
    """About 2% of the payees fail: half for good (account closed), half for a while."""
    numbers = session.scalars(
        select(Phone.number)
        .join(Entitlement, Entitlement.registrant_id == Phone.registrant_id)
        .where(Entitlement.cycle_id == cycle_id)
        .order_by(Phone.number)
    ).all()
    chosen = [wire_phone(n, MsisdnFormat.DIGITS) for n in numbers[::50]]  # as the file has it
    closed = dict.fromkeys(chosen[::2], "Payee account closed")
    unavailable = dict.fromkeys(chosen[1::2], "Payee FSP temporarily unavailable")
    return closed, unavailable


def _write_batch_files(
    factory: sessionmaker[Session], cycle_id: uuid.UUID, folder: Path | None
) -> int:
    """Each batch's PHEE CSV, byte for byte as it is sent, into ``folder``."""
    if folder is None:
        return 0
    private_dir(folder)
    with unit_of_work(factory) as session:
        admin = users.get_user(session, "admin")
        batches = payments.list_batches(session, admin, _cycle(session, cycle_id), limit=100_000)
        for batch in batches:
            data = payments.batch_file(session, admin, batch).data
            write_private_file(folder / batch.file_name, data)
    return len(batches)


def _prepare(
    factory: sessionmaker[Session], cycle_id: uuid.UUID, *, retry: bool
) -> PreparationReport:
    with unit_of_work(factory) as session:
        maker = users.get_user(session, "maker")
        cycle = _cycle(session, cycle_id)
        run = payments.retry_failed if retry else payments.prepare_cycle
        return run(session, maker, cycle)


def _send_and_settle(
    factory: sessionmaker[Session],
    hub: EmulatorServer,
    cycle_id: uuid.UUID,
    result: DemoResult,
    say: Callable[[str], None],
) -> None:
    with unit_of_work(factory) as session:
        checker = users.get_user(session, "checker")
    sent = payments.send_cycle(factory, checker, cycle_id)
    say(_("send: {count} batches accepted by PHEE").format(count=sent.count(SendOutcome.SUBMITTED)))
    for _round in range(SYNC_ROUNDS):
        result.sync_rounds += 1
        report = payments.sync_cycle(factory, checker, cycle_id)
        with unit_of_work(factory) as session:
            totals = cycle_payment_totals(session, _cycle(session, cycle_id))
        pending = sum(totals.payments.get(k, (0, 0))[0] for k in ("issued", "sent"))
        if pending == 0:
            say(
                _(
                    "sync: every payment is final ({reconciled} reconciled in the last round)"
                ).format(reconciled=report.reconciled)
            )
            return
        hub.complete_all()  # the emulator settles on demand; a real hub takes its time
    say(_("sync: some payments are still pending at PHEE; `g2p-phee sync` picks them up later"))


def _reconcile(
    factory: sessionmaker[Session],
    hub: EmulatorServer,
    cycle_id: uuid.UUID,
    result: DemoResult,
    say: Callable[[str], None],
) -> None:
    with unit_of_work(factory) as session:
        cycle = _cycle(session, cycle_id)
        result.totals = cycle_payment_totals(session, cycle)
        for failed in payments.failed_payments(session, cycle, limit=10_000):
            reason = failed.failure_reason or "?"
            result.failure_reasons[reason] = result.failure_reasons.get(reason, 0) + 1
        checker = users.get_user(session, "checker")
        result.outcomes = cycle_outcomes(session, checker, cycle)
        open_payments = sum(result.totals.payments.get(k, (0, 0))[0] for k in ("issued", "sent"))
        if open_payments == 0:
            if result.outcomes.unpaid:
                say(f"distribute: {payments.unpaid_text(result.outcomes)}")
            payments.mark_distributed(session, checker, cycle, unpaid_reason=UNPAID_REASON)
        result.cycle_state_final = cycle.state
    inspection = hub.inspect()
    result.accepted_twice = len(inspection["accepted_more_than_once"])
    say(
        _("PHEE's own count: {accepted_twice} request_ids accepted more than once").format(
            accepted_twice=result.accepted_twice
        )
    )


def _cycle(session: Session, cycle_id: uuid.UUID) -> Cycle:
    cycle = session.get(Cycle, cycle_id)
    assert cycle is not None
    return cycle


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
        _(
            "program: {enrolled} enrolled; cycle {name}: {added} entitlements submitted by maker"
        ).format(enrolled=enrolled, name=cycle.name, added=added)
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
            say(_("maker tries to approve: refused — {message}").format(message=refusal.message))
        session.rollback()
    with unit_of_work(factory) as session:
        cycle = session.get(Cycle, cycle_id)
        assert cycle is not None
        checker: User = users.get_user(session, "checker")
        result.approved = programs.approve_cycle(session, checker, cycle)
        result.cycle_state = cycle.state
        totals = programs.cycle_totals(session, cycle)
        result.approved_amount = sum(totals.amounts.values(), start=Decimal(0))
        say(
            _("checker approves: {approved} entitlements approved").format(approved=result.approved)
        )


def _count(session: Session, result: DemoResult) -> None:
    def count(query: Select[tuple[int]]) -> int:
        return int(session.scalar(query) or 0)

    result.registrants = count(select(func.count()).select_from(Registrant))
    result.with_bank_account = count(select(func.count(func.distinct(BankAccount.registrant_id))))
    result.with_phone = count(select(func.count(func.distinct(Phone.registrant_id))))
    result.with_national_id = count(select(func.count(func.distinct(RegistrantId.registrant_id))))
    result.enrolled = programs.enrolled_count(session, programs.get_program(session, PROGRAM))
