"""prepare_payments (SPEC 3.2): approved entitlements → payments, batches and batch files.

Set-based and streaming: one ordered query yields every payable entitlement with its payee
identifier already picked by the database; Python checks the identifier, gives the payment its
UUID, places it in a batch (by row count and by file bytes) and writes its file line; payments
and batches are written in large chunks (``COPY`` on PostgreSQL). Memory stays flat whatever the
cycle's size. The cycle row is locked first, so two prepares of one cycle run one after the
other and the second finds nothing left to pay; the partial unique index on payments is the last
guard.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Select,
    String,
    Table,
    cast,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.bulk import (
    COPY_ESCAPES,
    NativeValues,
    RowStream,
    bulk_insert,
    copy_text,
    raw,
)
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import BusinessRuleViolation
from g2p_payment_phee.ids import new_id_texts
from g2p_payment_phee.money import AmountFormat, format_amount, is_whole
from g2p_payment_phee.payments.files import BatchFileFormat, RenderedFile, check_room
from g2p_payment_phee.payments.models import IS_FAILED, IS_LIVE, Payment, PaymentBatch
from g2p_payment_phee.payments.payees import PayeeOption, PayeeRule
from g2p_payment_phee.payments.states import BatchState, PaymentState
from g2p_payment_phee.phee.callbacks import callback_key, callback_token_hash
from g2p_payment_phee.programs.models import Cycle, Entitlement
from g2p_payment_phee.programs.states import CycleState, EntitlementState
from g2p_payment_phee.registry.models import (
    BankAccount,
    IdStatus,
    IdType,
    Phone,
    Registrant,
    RegistrantId,
)
from g2p_payment_phee.users.models import User

FLUSH_BATCHES = 40
PAGE_ROWS = 20_000
SKIPPED_KEPT = 10_000
ID_BLOCK = 4096  # UUIDs made at once
SQLITE_CACHE_KB = 65_536  # SQLite page cache while preparing
NULL_TEXT = "\\N\t\\N"  # no batch, no row (COPY text)
PAYMENT_COLUMNS = (
    "id", "created_at", "entitlement_id", "cycle_id", "registrant_id", "batch_id", "batch_row",
    "amount_issued", "payment_fee", "currency", "payee_id_type", "payee_id_value", "state", "live",
)  # fmt: skip
BATCH_COLUMNS = (
    "id", "created_at", "cycle_id", "sequence", "name", "correlation_id", "state", "currency",
    "file_name", "csv_data", "csv_sha256", "csv_size", "issued_count", "issued_amount",
    "sent_count", "sent_amount", "paid_count", "paid_amount", "failed_count", "failed_amount",
    "send_attempts", "callback_token_hash",
)  # fmt: skip


@dataclass(frozen=True)
class PrepareSpec:
    """What a manager's configuration asks of preparation."""

    payee: PayeeRule
    file_format: BatchFileFormat
    create_batch: bool = True
    max_batch_size: int = 500
    max_file_bytes: int = 100_000
    file_name_prefix: str = ""
    make_file_at_prepare: bool = True
    amount_format: AmountFormat = AmountFormat.INTEGER
    only_failed: bool = False


@dataclass(frozen=True)
class Skipped:
    """An entitlement that gets no payment, and why."""

    code: str
    reference: str
    reason: str


@dataclass
class CurrencyTotal:
    """Payments and their amounts in one currency."""

    count: int = 0
    amount: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)


@dataclass
class PreparationReport:
    """What prepare did (or, in a dry run, would do)."""

    cycle: str
    dry_run: bool
    created: int = 0
    batches: int = 0
    file_bytes: int = 0
    already_paid: int = 0
    skipped_count: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    totals: dict[str, CurrencyTotal] = field(default_factory=dict)
    message: str = ""

    def skip(self, code: str, reference: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < SKIPPED_KEPT:
            self.skipped.append(Skipped(code, reference, reason))


def prepare_payments(
    session: Session,
    actor: User,
    cycle: Cycle,
    spec: PrepareSpec,
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> PreparationReport:
    """Create payments (and batches with their files) for every payable entitlement of the cycle."""
    if cycle.state is not CycleState.APPROVED:
        raise BusinessRuleViolation(
            f"cycle {cycle.name!r} is {cycle.state}: only an approved cycle is paid"
        )
    check_room(spec.file_format, spec.max_file_bytes)
    read_aside = _sees_only_committed_data(session)
    if not dry_run:
        _lock_cycle(session, cycle)
    with _sqlite_cache(session):
        pages = _pages_read_aside(session, cycle.id, spec) if read_aside else None
        return _prepare(session, actor, cycle, spec, dry_run, progress, pages)


def _prepare(
    session: Session,
    actor: User,
    cycle: Cycle,
    spec: PrepareSpec,
    dry_run: bool,
    progress: Callable[[int], None] | None,
    pages: Generator[Sequence[tuple[Any, ...]], None, None] | None,
) -> PreparationReport:
    report = PreparationReport(cycle=cycle.name, dry_run=dry_run)
    report.already_paid = _count_already_paid(session, cycle)
    writer = _Writer(session, cycle, spec, report, dry_run)
    done = 0
    if pages is None:
        pages = _payable_pages(session.connection(), cycle.id, spec)
    with closing(pages):
        for page in pages:
            for row in page:
                writer.add(*row)
            writer.pause()
            done += len(page)
            if progress is not None:
                progress(done)
    writer.finish()
    if report.created == 0:
        report.message = _nothing_to_pay(report)
    if not dry_run:
        audit.record(session, actor, "payments.prepared", cycle, _audit_data(report))
    return report


@contextmanager
def _sqlite_cache(session: Session) -> Iterator[None]:
    """A larger page cache on SQLite while a cycle is prepared: a million payments' indexes
    outgrow the default 2 MB, and each insert would then read and write index pages through the
    OS. Per connection, no effect on durability; restored afterwards."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")


def payable_count(session: Session, cycle: Cycle) -> int:
    """How many approved entitlements have no live payment (for progress bars)."""
    query = select(func.count()).where(
        Entitlement.cycle_id == cycle.id,
        Entitlement.state == EntitlementState.APPROVED,
        ~_has_live_payment(),
    )
    return int(session.scalar(query) or 0)


def _lock_cycle(session: Session, cycle: Cycle) -> None:
    """Serialise prepares of one cycle: a row lock on PostgreSQL, the write lock on SQLite."""
    session.execute(
        update(Cycle)
        .where(Cycle.id == cycle.id)
        .values(state=Cycle.state)
        .execution_options(synchronize_session=False)
    )
    state = session.scalar(select(Cycle.state).where(Cycle.id == cycle.id))
    if state is not CycleState.APPROVED:
        raise BusinessRuleViolation(f"cycle {cycle.name!r} became {state} meanwhile")


def _has_live_payment(after: uuid.UUID | None = None) -> Any:
    # ``live`` is the predicate of the unique index: the probe reads that index only. ``after``
    # repeats the page's keyset bound on the payments side: PostgreSQL does not carry it over
    # the join, and without it a merge anti-join would read every payment made so far on each
    # page (pages are read in entitlement order, so the payments this run made are all behind).
    live = exists().where(Payment.entitlement_id == Entitlement.id, IS_LIVE)
    return live if after is None else live.where(Payment.entitlement_id > after)


def _count_already_paid(session: Session, cycle: Cycle) -> int:
    query = select(func.count()).where(
        Entitlement.cycle_id == cycle.id,
        Entitlement.state == EntitlementState.APPROVED,
        _has_live_payment(),
    )
    return int(session.scalar(query) or 0)


def _payable_pages(
    connection: Connection, cycle_id: uuid.UUID, spec: PrepareSpec
) -> Generator[Sequence[tuple[Any, ...]], None, None]:
    """(entitlement id, code, registrant id, amount, fee, currency, raw payee value),
    in entitlement order, read in keyset pages (no cursor stays open across the COPY of the
    payments when this is the session's own connection)."""
    if connection.dialect.name == "postgresql":
        # Planned for the whole page, not for its first rows; each page is a short query that
        # JIT compilation would only slow down.
        connection.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
        connection.execute(text("SET LOCAL jit = off"))
    after: uuid.UUID | None = None
    while True:
        query = _payable_query(cycle_id, spec.payee, after)
        if spec.only_failed:
            failed = exists().where(Payment.entitlement_id == Entitlement.id, IS_FAILED)
            query = query.where(failed)
        if after is not None:
            query = query.where(Entitlement.id > after)
        rows = connection.execute(query.limit(PAGE_ROWS)).tuples().all()
        if not rows:
            return
        yield rows
        after = uuid.UUID(str(rows[-1][0]))


def _sees_only_committed_data(session: Session) -> bool:
    """Whether another connection would read what this transaction reads: PostgreSQL, read
    committed, and nothing written in this transaction yet (no transaction id assigned)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return False
    query = (
        "SELECT pg_current_xact_id_if_assigned() IS NULL "
        "AND current_setting('transaction_isolation') = 'read committed'"
    )
    return bool(connection.exec_driver_sql(query).scalar())


def _pages_read_aside(
    session: Session, cycle_id: uuid.UUID, spec: PrepareSpec
) -> Generator[Sequence[tuple[Any, ...]], None, None]:
    """The pages read on a connection of their own, one page ahead, while this transaction
    writes the previous one: the database looks up payees while Python places payments.

    Only used when this transaction had written nothing before it locked the cycle: the other
    connection then sees the same entitlements, and the payments this transaction adds are all
    behind the page being read. Prepares of one cycle stay serialised by the cycle's lock."""
    bind = session.get_bind()
    assert isinstance(bind, Engine)
    with bind.connect() as reader, ThreadPoolExecutor(1, "prepare-reader") as pool:
        # Every step of a page is an index probe; planned while this transaction's COPY has
        # only begun, the payments probe could otherwise become a scan per entitlement.
        reader.execute(text("SET LOCAL enable_seqscan = off"))
        pages = _payable_pages(reader, cycle_id, spec)
        ahead: Future[Sequence[tuple[Any, ...]] | None] = pool.submit(next, pages, None)
        try:
            while (rows := ahead.result()) is not None:
                ahead = pool.submit(next, pages, None)
                yield rows
        finally:
            ahead.cancel()
            wait([ahead])
            pages.close()


_ENTITLEMENT_COLUMNS = (
    raw(cast(Entitlement.id, String)),
    Entitlement.code,
    raw(cast(Entitlement.registrant_id, String)),
    raw(Entitlement.initial_amount),
    raw(Entitlement.transfer_fee),
    Entitlement.currency,
)


def _payable_query(cycle_id: uuid.UUID, rule: PayeeRule, after: uuid.UUID | None) -> Select[Any]:
    """One page's query: the entitlements in id order from the cycle's index, each one's payee
    value probed by key. (Registrants are not joined: PostgreSQL may hash the whole registry for
    every page, quadratic at a million; the few skipped rows get their reference afterwards.)"""
    E = Entitlement
    query = (
        select(*_ENTITLEMENT_COLUMNS, _payee_value(rule))
        .where(
            E.cycle_id == cycle_id,
            E.state == EntitlementState.APPROVED,
            ~_has_live_payment(after),
        )
        .order_by(E.id)
    )
    return query


def _payee_value(rule: PayeeRule) -> Any:
    """Each registrant's payee value as a correlated lookup (an index probe per entitlement)."""
    owner = Entitlement.registrant_id
    if rule.option is PayeeOption.EMAIL:
        return select(Registrant.email).where(Registrant.id == owner).scalar_subquery()
    if rule.option is PayeeOption.REGISTRANT_ID:
        return (
            select(RegistrantId.value)
            .join(IdType, IdType.id == RegistrantId.id_type_id)
            .where(
                RegistrantId.registrant_id == owner,
                IdType.name == rule.id_type_name,
                RegistrantId.status == IdStatus.VALID,
            )
            .scalar_subquery()
        )
    if rule.option is PayeeOption.PHONE:
        first = select(Phone.number).where(
            Phone.registrant_id == owner, Phone.disabled_at.is_(None)
        )
        return first.order_by(Phone.sequence, Phone.id).limit(1).scalar_subquery()
    column = BankAccount.iban if rule.option is PayeeOption.IBAN else BankAccount.account_number
    account = select(column).where(BankAccount.registrant_id == owner, BankAccount.active.is_(True))
    return account.order_by(BankAccount.sequence, BankAccount.id).limit(1).scalar_subquery()


def _decimal(value: Any) -> Decimal:
    """A driver's numeric value as Decimal (SQLite hands back int or float for NUMERIC)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


@dataclass
class _Money:
    """One (amount, fee, currency) of the cycle: its CSV text, its COPY text, how often paid."""

    amount: Decimal
    fee: Decimal
    currency: str
    text: str
    native: str  # amount, fee and currency as COPY text (PostgreSQL)
    refused: str = ""
    count: int = 0


class _Writer:
    """Places payments in batches and writes both in chunks (or only counts, in a dry run).

    Ids, amounts and timestamps stay in the database's native form from the read to the write
    (see ``bulk``): a million rows pass through here without per-value conversions."""

    def __init__(
        self,
        session: Session,
        cycle: Cycle,
        spec: PrepareSpec,
        report: PreparationReport,
        dry_run: bool,
    ) -> None:
        self.session, self.cycle, self.spec, self.report = session, cycle, spec, report
        self.dry_run = dry_run
        self.check = spec.payee.checker()
        self.native = NativeValues(session.connection().dialect)
        table = Payment.__table__
        assert isinstance(table, Table)
        native = self.native
        self.now = native.row_value(native.of(table, "created_at", utcnow()))
        self.cycle_id = native.row_value(native.of(table, "cycle_id", cycle.id))
        self.type_to_send = native.row_value(spec.payee.type_to_send)
        self.issued = PaymentState.ISSUED.value
        self.live = native.row_value(native.of(table, "live", True))
        self.postgres = native.postgres
        self.amounts: dict[tuple[Any, Any, str], _Money] = {}
        self.ids: list[str] = []
        self.skips: list[tuple[str, Any, str]] = []
        self.payments = RowStream(session.connection(), table, PAYMENT_COLUMNS)
        self.batches: list[tuple[Any, ...]] = []
        self.header_bytes = len(spec.file_format.header.encode())
        self.callback_key = callback_key()  # each batch's callback token hash is stored with it
        self.sequence = self._last_sequence()
        self._open_batch()

    def _last_sequence(self) -> int:
        query = select(func.max(PaymentBatch.sequence)).where(
            PaymentBatch.cycle_id == self.cycle.id
        )
        return int(self.session.scalar(query) or 0)

    def _open_batch(self) -> None:
        self.batch_name = self._new_id()
        self.batch_id = self.native.uuid_value(self.batch_name)
        self.lines: list[str] = []
        self.size = self.header_bytes
        self.amount = Decimal(0)
        self.currency = ""

    def _new_id(self) -> str:
        if not self.ids:
            self.ids = new_id_texts(ID_BLOCK)
            self.ids.reverse()  # popped from the end: in ascending order
        return self.ids.pop()

    def add(
        self, eid: Any, code: str, rid: Any, amount_raw: Any, fee_raw: Any,
        currency: str, raw_payee: str | None,
    ) -> None:  # fmt: skip
        value, reason = self.check(raw_payee)
        if value is None:
            self._skip(code, rid, reason or "no payee identifier")
            return
        money = self.amounts.get((amount_raw, fee_raw, currency))
        if money is None:
            money = self.amounts[(amount_raw, fee_raw, currency)] = self._money(
                amount_raw, fee_raw, currency
            )
        if money.refused:
            self._skip(code, rid, money.refused)
            return
        money.count += 1
        request_id = self._new_id()
        row = None
        if self.spec.create_batch:
            row = self._place(request_id, value, money.text, currency)
            self.amount += money.amount
        if self.dry_run:
            return
        if self.postgres:
            place = NULL_TEXT if row is None else f"{self.batch_id}\t{row}"
            self.payments.write_line(
                f"{request_id}\t{self.now}\t{eid}\t{self.cycle_id}\t{rid}\t{place}\t"
                f"{money.native}\t{self.type_to_send}\t{value.translate(COPY_ESCAPES)}\t"
                f"{self.issued}\t{self.live}\n"
            )
        else:
            self.payments.write(
                (request_id.replace("-", ""), self.now, eid, self.cycle_id, rid, self.batch_id
                 if row is not None else None, row, amount_raw, fee_raw, currency,
                 self.type_to_send, value, self.issued, self.live),
            )  # fmt: skip

    def _money(self, amount_raw: Any, fee_raw: Any, currency: str) -> _Money:
        """What one (amount, fee, currency) becomes; cycles repeat a few of them a million times."""
        amount, fee = _decimal(amount_raw), _decimal(fee_raw)
        native = ""
        if self.postgres:
            native = "\t".join(map(copy_text, (amount_raw, fee_raw, currency)))
        if self.spec.amount_format is AmountFormat.INTEGER and not is_whole(amount):
            refused = (
                f"amount {amount.normalize():f} {currency} has a fractional part; "
                "the hub takes whole amounts (amount_format integer)"
            )
            return _Money(amount, fee, currency, "", native, refused)
        wire = format_amount(amount, currency, self.spec.amount_format)
        return _Money(amount, fee, currency, wire, native)

    def _place(self, request_id: str, value: str, amount_text: str, currency: str) -> int:
        fmt, ptype = self.spec.file_format, self.spec.payee.type_to_send
        line = fmt.line(len(self.lines), request_id, ptype, value, amount_text, currency)
        grows = 1 + (len(line) if line.isascii() else len(line.encode()))
        full = len(self.lines) >= self.spec.max_batch_size
        if full or self.size + grows > self.spec.max_file_bytes:
            self._close_batch()
            line = fmt.line(0, request_id, ptype, value, amount_text, currency)
            grows = 1 + (len(line) if line.isascii() else len(line.encode()))
        self.lines.append(line)
        self.size += grows
        self.currency = currency
        return len(self.lines) - 1

    def _totals(self) -> None:
        """The report's totals, from how often each (amount, fee, currency) was paid."""
        for money in self.amounts.values():
            if not money.count:
                continue
            total = self.report.totals.get(money.currency)
            if total is None:
                total = self.report.totals[money.currency] = CurrencyTotal()
            total.count += money.count
            total.amount += money.amount * money.count
            total.fees += money.fee * money.count
            self.report.created += money.count

    def _close_batch(self) -> None:
        if not self.lines:
            return
        self.sequence += 1
        self.report.batches += 1
        self.report.file_bytes += self.size
        if not self.dry_run:
            self.batches.append(self._batch_row())
            if len(self.batches) >= FLUSH_BATCHES:
                self._flush()
        self._open_batch()

    def _batch_row(self) -> tuple[Any, ...]:
        table = PaymentBatch.__table__
        assert isinstance(table, Table)
        stored = RenderedFile.of(self.spec.file_format.header, self.lines)
        keep = self.spec.make_file_at_prepare
        zero = self.native.of(table, "issued_amount", Decimal(0))
        return (
            self.batch_id, self.now, self.cycle_id, self.sequence, self.batch_name,
            str(uuid.uuid4()), BatchState.PREPARED.value, self.currency,
            f"{self.spec.file_name_prefix}{self.batch_name}.csv",
            stored.data if keep else None, stored.sha256 if keep else None, len(stored.data),
            len(self.lines), self.native.of(table, "issued_amount", self.amount),
            0, zero, 0, zero, 0, zero, 0,
            callback_token_hash(uuid.UUID(self.batch_name), self.callback_key),
        )  # fmt: skip

    def _flush(self) -> None:
        """Write the closed batches (pausing the payment stream: one statement at a time)."""
        self.payments.close()
        bulk_insert(self.session, PaymentBatch.__table__, BATCH_COLUMNS, self.batches, native=True)
        self.batches = []

    def pause(self) -> None:
        """Finish sending the payments so far (the connection is needed for the next read)."""
        self.payments.close()
        self._report_skips()

    def _skip(self, code: str, rid: Any, reason: str) -> None:
        """Skipped; reported with the registrant's reference at the end of the page."""
        if len(self.report.skipped) + len(self.skips) < SKIPPED_KEPT:
            self.skips.append((code, rid, reason))
        else:
            self.report.skipped_count += 1

    def _report_skips(self) -> None:
        if not self.skips:
            return
        ids = {uuid.UUID(str(rid)) for _, rid, _ in self.skips}
        query = select(Registrant.id, Registrant.reference).where(Registrant.id.in_(ids))
        references = dict(self.session.execute(query).tuples().all())
        for code, rid, reason in self.skips:
            self.report.skip(code, references.get(uuid.UUID(str(rid)), ""), reason)
        self.skips = []

    def finish(self) -> None:
        self._close_batch()
        self._totals()
        if not self.dry_run:
            self._flush()
            self.session.expire_all()


def _nothing_to_pay(report: PreparationReport) -> str:
    if report.skipped_count:
        return f"no payment created: all {report.skipped_count} payable entitlements were skipped"
    if report.already_paid:
        return (
            f"nothing left to pay: all {report.already_paid} approved entitlements "
            "already have a payment"
        )
    return "nothing to pay: the cycle has no approved entitlements"


def _audit_data(report: PreparationReport) -> dict[str, Any]:
    return {
        "created": report.created,
        "batches": report.batches,
        "skipped": report.skipped_count,
        "already_paid": report.already_paid,
        "totals": {c: {"count": t.count, "amount": t.amount} for c, t in report.totals.items()},
    }
