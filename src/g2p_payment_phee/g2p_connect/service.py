"""A received transaction taken into the domain, once: one cycle of the sender's program, one
entitlement per accepted record, for a registrant found or created from the payee FA
(``g2p_connect.addresses``; docs/g2p-connect.md, "Into the domain").

``take_in`` runs in the intake job, in one transaction: records that already have their
entitlement are skipped, so running it twice creates nothing twice. The cycle is created
``to_approve`` (the MIS is its maker); ``auto_approve`` then approves it as the sender's
service user, in a transaction of its own (``approve``), and ``pay`` prepares and sends it
through the program's payment manager. Otherwise it waits for a checker like any cycle.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.bulk import bulk_insert_dicts
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import ConfigurationError
from g2p_payment_phee.g2p_connect.addresses import BadAddress, FaKind, PayeeAddress, read_payee_fa
from g2p_payment_phee.g2p_connect.models import (
    G2PConnectRecord,
    G2PConnectSender,
    G2PConnectTransaction,
    ReceiptStatus,
)
from g2p_payment_phee.g2p_connect.receipt import cycle_dates
from g2p_payment_phee.ids import new_id
from g2p_payment_phee.payments.config_service import load_manager
from g2p_payment_phee.payments.payees import PayeeRule
from g2p_payment_phee.programs.models import (
    Cycle,
    MembershipState,
    Program,
    ProgramMembership,
)
from g2p_payment_phee.programs.service import approve_cycle, insert_entitlements
from g2p_payment_phee.programs.states import CycleState, EntitlementState, set_cycle_state
from g2p_payment_phee.registry.models import (
    Bank,
    BankAccount,
    IdStatus,
    IdType,
    Phone,
    Registrant,
    RegistrantId,
    RegistrantKind,
)
from g2p_payment_phee.users.models import User

CYCLE_PREFIX = "G2P Connect "
NAME_LIMIT = 200
CHUNK = 1000


@dataclass(frozen=True)
class Intake:
    """What taking a transaction in did."""

    cycle_id: uuid.UUID | None
    entitlements: int
    registrants_created: int
    rejected: int


@dataclass
class _Pending:
    record_id: uuid.UUID
    reference_id: str
    payee: PayeeAddress
    name: str
    amount: Decimal


def take_in(session: Session, txn_id: uuid.UUID) -> Intake:
    """Entitlements for the transaction's accepted records that have none yet (and its cycle,
    the first time); records the domain cannot take are rejected with the reason."""
    txn = session.get(G2PConnectTransaction, txn_id, with_for_update=True)
    if txn is None:
        raise ConfigurationError(f"no G2P Connect transaction {txn_id}")
    sender = txn.sender
    program = sender.program
    # one intake of a program at a time (PostgreSQL): two transactions naming the same payee
    # would both create that registrant, and both number a new cycle alike; on SQLite writers
    # are serial and the job runs the intake again when a unique key was taken meanwhile
    session.execute(select(Program.id).where(Program.id == program.id).with_for_update())
    rows = _waiting_records(session, txn)
    if not rows:
        txn.intake_done_at = txn.intake_done_at or utcnow()
        return Intake(txn.cycle_id, 0, 0, 0)
    rule = load_manager(session, program).prepare_spec(session, _probe(program)).payee
    pending, rejected = _read_payees(session, rows, rule)
    registrants, created = _registrants(session, program, rule, pending)
    pending, more = _one_per_registrant(session, pending, registrants)
    cycle = _cycle(session, sender, txn)
    _enrol(session, program, set(registrants.values()))
    made = _entitlements(session, cycle, program, pending, registrants)
    if cycle.state is CycleState.DRAFT and made:
        set_cycle_state(session, None, cycle, CycleState.TO_APPROVE, {"by": sender.sender_id})
        cycle.submitted_at = utcnow()
    txn.intake_done_at = utcnow()
    txn.intake_error = None
    return Intake(cycle.id, made, created, rejected + more)


def _probe(program: Program) -> Cycle:
    probe = Cycle(name="G2P Connect", program_id=program.id, sequence=0)
    probe.program = program
    return probe


def _waiting_records(session: Session, txn: G2PConnectTransaction) -> list[Any]:
    query = (
        select(
            G2PConnectRecord.id,
            G2PConnectRecord.reference_id,
            G2PConnectRecord.payee_fa,
            G2PConnectRecord.payee_name,
            G2PConnectRecord.amount,
        )
        .where(
            G2PConnectRecord.txn_id == txn.id,
            G2PConnectRecord.receipt_status == ReceiptStatus.RECEIVED,
            G2PConnectRecord.entitlement_id.is_(None),
        )
        .order_by(G2PConnectRecord.row)
    )
    return list(session.execute(query))


def _read_payees(session: Session, rows: list[Any], rule: PayeeRule) -> tuple[list[_Pending], int]:
    """The records' payees, read again under the manager's current payee option."""
    pending: list[_Pending] = []
    refused: list[tuple[uuid.UUID, str]] = []
    for row in rows:
        try:
            payee = read_payee_fa(row.payee_fa, rule.option)
        except BadAddress as error:
            refused.append((row.id, error.reason))
            continue
        name = (row.payee_name or "").strip() or row.payee_fa
        pending.append(_Pending(row.id, row.reference_id, payee, name[:300], Decimal(row.amount)))
    _reject_records(session, refused, "rjct.payee_fa.invalid")
    return pending, len(refused)


def _reject_records(session: Session, refused: Sequence[tuple[uuid.UUID, str]], code: str) -> None:
    if refused:
        session.execute(
            update(G2PConnectRecord),
            [
                {
                    "id": record_id,
                    "receipt_status": ReceiptStatus.REJECTED,
                    "reason_code": code,
                    "reason_message": reason,
                }
                for record_id, reason in refused
            ],
        )


def registrant_reference(payee: PayeeAddress) -> str:
    """The reference of a registrant created from an FA: the same FA, the same registrant."""
    digest = hashlib.sha256(payee.key.encode("utf-8")).hexdigest()[:24]
    return f"g2pc-{payee.kind}-{digest}"


def _registrants(
    session: Session, program: Program, rule: PayeeRule, pending: list[_Pending]
) -> tuple[dict[str, uuid.UUID], int]:
    """Payee key → registrant id: found by the identifier (or a registrant we created from
    the same FA before), else created with that identifier."""
    kind = RegistrantKind(program.target_type.value)
    by_kind: dict[FaKind, set[str]] = defaultdict(set)
    for item in pending:
        by_kind[item.payee.kind].add(item.payee.value)
    found: dict[str, uuid.UUID] = {}
    for fa_kind, values in by_kind.items():
        for value, registrant_id in _find(session, fa_kind, sorted(values), kind, rule):
            found.setdefault(f"{fa_kind}:{value}", registrant_id)
    missing = {p.payee.key: p for p in pending if p.payee.key not in found}
    found.update(_by_reference(session, missing.values()))
    to_create = [p for key, p in missing.items() if key not in found]
    found.update(_create(session, kind, rule, to_create))
    return found, len(to_create)


def _find(
    session: Session,
    fa_kind: FaKind,
    values: list[str],
    kind: RegistrantKind,
    rule: PayeeRule,
) -> Iterable[tuple[str, uuid.UUID]]:
    usable = (Registrant.kind == kind, Registrant.active.is_(True))
    for start in range(0, len(values), CHUNK):
        chunk = values[start : start + CHUNK]
        query: Any
        if fa_kind is FaKind.PHONE:
            query = select(Phone.number, Phone.registrant_id).where(
                Phone.number.in_(chunk), Phone.disabled_at.is_(None)
            )
            query = query.join(Registrant, Registrant.id == Phone.registrant_id)
        elif fa_kind in (FaKind.ACCOUNT, FaKind.IBAN):
            column = BankAccount.iban if fa_kind is FaKind.IBAN else BankAccount.account_number
            query = select(column, BankAccount.registrant_id).where(
                column.in_(chunk), BankAccount.active.is_(True)
            )
            query = query.join(Registrant, Registrant.id == BankAccount.registrant_id)
        elif fa_kind is FaKind.EMAIL:
            query = select(func.lower(Registrant.email), Registrant.id).where(
                func.lower(Registrant.email).in_(chunk)
            )
        else:
            query = (
                select(RegistrantId.value, RegistrantId.registrant_id)
                .join(IdType, IdType.id == RegistrantId.id_type_id)
                .join(Registrant, Registrant.id == RegistrantId.registrant_id)
                .where(IdType.name == rule.id_type_name, RegistrantId.value.in_(chunk))
            )
        query = query.where(*usable).order_by(Registrant.reference)
        yield from session.execute(query).tuples()


def _by_reference(session: Session, pending: Iterable[_Pending]) -> dict[str, uuid.UUID]:
    wanted = {registrant_reference(p.payee): p.payee.key for p in pending}
    found: dict[str, uuid.UUID] = {}
    references = sorted(wanted)
    for start in range(0, len(references), CHUNK):
        query = select(Registrant.reference, Registrant.id).where(
            Registrant.reference.in_(references[start : start + CHUNK])
        )
        for reference, registrant_id in session.execute(query).tuples():
            found[wanted[reference]] = registrant_id
    return found


def _create(
    session: Session, kind: RegistrantKind, rule: PayeeRule, pending: list[_Pending]
) -> dict[str, uuid.UUID]:
    """New registrants with their paying identifier (bulk inserts)."""
    now = utcnow()
    made: dict[str, uuid.UUID] = {}
    people: list[dict[str, Any]] = []
    phones: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []
    ids: list[dict[str, Any]] = []
    banks = _banks(session, {p.payee.provider for p in pending if p.payee.provider})
    id_type = (
        _id_type(session, rule) if any(p.payee.kind is FaKind.TOKEN for p in pending) else None
    )
    for item in pending:
        if item.payee.key in made:
            continue
        rid = new_id()
        made[item.payee.key] = rid
        payee = item.payee
        people.append(
            {
                "id": rid,
                "created_at": now,
                "updated_at": now,
                "reference": registrant_reference(payee),
                "kind": kind,
                "name": item.name,
                "email": payee.value if payee.kind is FaKind.EMAIL else None,
                "active": True,
            }
        )
        base = {"id": new_id(), "created_at": now, "registrant_id": rid, "sequence": 0}
        if payee.kind is FaKind.PHONE:
            phones.append({**base, "number": payee.value, "disabled_at": None})
        elif payee.kind in (FaKind.ACCOUNT, FaKind.IBAN):
            iban = payee.value if payee.kind is FaKind.IBAN else None
            accounts.append(
                {
                    **base,
                    "account_number": payee.value,
                    "iban": iban,
                    "bank_id": banks.get(payee.provider.upper()),
                    "active": True,
                }
            )
        elif payee.kind is FaKind.TOKEN and id_type is not None:
            del base["sequence"]
            ids.append(
                {**base, "id_type_id": id_type, "value": payee.value, "status": IdStatus.VALID}
            )
    bulk_insert_dicts(session, Registrant.__table__, people)
    bulk_insert_dicts(session, Phone.__table__, phones)
    bulk_insert_dicts(session, BankAccount.__table__, _with_expiry(accounts, None))
    bulk_insert_dicts(session, RegistrantId.__table__, _with_expiry(ids, "expiry_date"))
    return made


def _with_expiry(rows: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    if key is None:
        return rows
    return [{**row, key: None} for row in rows]


def _banks(session: Session, providers: set[str]) -> dict[str, uuid.UUID]:
    if not providers:
        return {}
    codes = sorted({p.upper() for p in providers})
    query = select(func.upper(Bank.code), Bank.id).where(func.upper(Bank.code).in_(codes))
    return dict(session.execute(query).tuples().all())


def _id_type(session: Session, rule: PayeeRule) -> uuid.UUID | None:
    return session.scalar(select(IdType.id).where(IdType.name == rule.id_type_name))


def _one_per_registrant(
    session: Session, pending: list[_Pending], registrants: dict[str, uuid.UUID]
) -> tuple[list[_Pending], int]:
    """A registrant is paid once per cycle: a later record naming the same person (another
    of their identifiers) is rejected."""
    first: dict[uuid.UUID, str] = {}
    kept: list[_Pending] = []
    refused: list[tuple[uuid.UUID, str]] = []
    for item in pending:
        rid = registrants[item.payee.key]
        if rid in first:
            reason = f"the same beneficiary as reference {first[rid]!r}: paid once per transaction"
            refused.append((item.record_id, reason))
            continue
        first[rid] = item.reference_id
        kept.append(item)
    _reject_records(session, refused, "rjct.payee_fa.invalid")
    return kept, len(refused)


def cycle_name(transaction_id: str, sender_id: str, attempt: int) -> str:
    """``G2P Connect <transaction_id>``; with the sender and a number when that is taken."""
    if attempt == 0:
        name = f"{CYCLE_PREFIX}{transaction_id}"
    else:
        suffix = f" ({sender_id}{'' if attempt == 1 else f' {attempt}'})"
        name = f"{CYCLE_PREFIX}{transaction_id}"[: NAME_LIMIT - len(suffix)] + suffix
    return name[:NAME_LIMIT]


def _cycle(session: Session, sender: G2PConnectSender, txn: G2PConnectTransaction) -> Cycle:
    if txn.cycle_id is not None:
        existing = session.get(Cycle, txn.cycle_id)
        if existing is not None:
            return existing
    program = sender.program
    taken = set(session.scalars(select(Cycle.name).where(Cycle.program_id == program.id)))
    attempt = 0
    while cycle_name(txn.transaction_id, sender.sender_id, attempt) in taken:
        attempt += 1
    last = session.scalar(select(func.max(Cycle.sequence)).where(Cycle.program_id == program.id))
    start, end = cycle_dates(utcnow().date())
    cycle = Cycle(
        program_id=program.id,
        program=program,
        name=cycle_name(txn.transaction_id, sender.sender_id, attempt),
        sequence=(last or 0) + 1,
        start_date=start,
        end_date=end,
    )
    session.add(cycle)
    session.flush()
    txn.cycle_id = cycle.id
    audit.record(
        session,
        None,
        AuditAction.CYCLE_CREATED,
        cycle,
        {"start": start, "end": end, "g2p_connect": txn.transaction_id},
    )
    return cycle


def _enrol(session: Session, program: Program, registrant_ids: set[uuid.UUID]) -> None:
    ids = sorted(registrant_ids)
    enrolled: set[uuid.UUID] = set()
    for start in range(0, len(ids), CHUNK):
        query = select(ProgramMembership.registrant_id).where(
            ProgramMembership.program_id == program.id,
            ProgramMembership.registrant_id.in_(ids[start : start + CHUNK]),
        )
        enrolled.update(session.scalars(query))
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "created_at": now,
            "program_id": program.id,
            "registrant_id": rid,
            "state": MembershipState.ENROLLED,
        }
        for rid in ids
        if rid not in enrolled
    ]
    bulk_insert_dicts(session, ProgramMembership.__table__, rows)


def _entitlements(
    session: Session,
    cycle: Cycle,
    program: Program,
    pending: list[_Pending],
    registrants: dict[str, uuid.UUID],
) -> int:
    rows: list[dict[str, object]] = []
    links: list[dict[str, Any]] = []
    for item in pending:
        entitlement_id = new_id()
        rows.append(
            {
                "id": entitlement_id,
                "cycle_id": cycle.id,
                "registrant_id": registrants[item.payee.key],
                "initial_amount": item.amount,
                "transfer_fee": Decimal(0),
                "currency": program.currency,
                "valid_from": None,
                "valid_until": None,
                "state": EntitlementState.PENDING_VALIDATION,
            }
        )
        links.append({"id": item.record_id, "entitlement_id": entitlement_id})
    made = insert_entitlements(session, rows)
    if links:
        session.execute(update(G2PConnectRecord), links)
    return made


def approve(session: Session, txn_id: uuid.UUID) -> User | None:
    """Approve the transaction's cycle as the sender's service user when the sender
    auto-approves and the cycle waits for approval; the user, or None when nothing is done."""
    txn = session.get(G2PConnectTransaction, txn_id)
    if txn is None or txn.cycle_id is None:
        return None
    sender = txn.sender
    if not sender.auto_approve or sender.service_user_id is None:
        return None
    user = session.get(User, sender.service_user_id)
    cycle = session.get(Cycle, txn.cycle_id)
    if user is None or cycle is None:
        return None
    if cycle.state is CycleState.TO_APPROVE:
        approve_cycle(session, user, cycle)
    return user if cycle.state is CycleState.APPROVED else None


def note_problem(session: Session, txn_id: uuid.UUID, problem: str) -> None:
    """Keep why the transaction's cycle did not go further (shown with the transaction)."""
    txn = session.get(G2PConnectTransaction, txn_id)
    if txn is not None:
        txn.intake_error = problem[:2000]
