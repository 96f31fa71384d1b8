"""prepare_payments (SPEC 3.2): approved entitlements → payments, batches and batch files.

The use case: it checks the cycle, locks it, reads the payable entitlements a page at a time
(``prepare_readers``), checks each payee identifier and amount, gives each payment its UUID and
its place in a batch (``packing``), writes payments and batches as they come (``bulk``: ``COPY``
on PostgreSQL) and records what it did in the audit log. Memory stays flat whatever the cycle's
size. The cycle row is locked first, so two prepares of one cycle run one after the other and
the second finds nothing left to pay; the partial unique index on payments is the last guard.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.bulk import RowWriter
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import BusinessRuleViolation
from g2p_payment_phee.i18n import _
from g2p_payment_phee.ids import new_id_texts
from g2p_payment_phee.money import AmountFormat, format_amount, is_whole
from g2p_payment_phee.payments import prepare_readers as readers
from g2p_payment_phee.payments.batch_store import (
    CallbackTokenHashes,
    lock_approved_cycle,
    store_batches,
)
from g2p_payment_phee.payments.files import BatchFileFormat, check_room
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.packing import BatchPacker, PackedBatch
from g2p_payment_phee.payments.payees import PayeeRule
from g2p_payment_phee.payments.prepare_readers import payable_count
from g2p_payment_phee.payments.states import PaymentState
from g2p_payment_phee.payments.unpayable import forget_paid_unpayable, keep_unpayable
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import CycleState
from g2p_payment_phee.users.models import User

__all__ = [
    "CreateBatch",
    "CurrencyTotal",
    "PreparationReport",
    "PrepareSpec",
    "Skipped",
    "payable_count",
    "prepare_payments",
]

SKIPPED_KEPT = 10_000
ID_BLOCK = 4096  # UUIDs made at once
SQLITE_CACHE_KB = 65_536  # SQLite page cache while preparing
PAYMENT_COLUMNS = (
    "id", "entitlement_id", "registrant_id", "batch_id", "batch_row",
    "amount_issued", "payment_fee", "currency", "payee_id_value",
)  # fmt: skip
UNBATCHED_PAYMENT_COLUMNS = tuple(c for c in PAYMENT_COLUMNS if c not in {"batch_id", "batch_row"})


# "Automatically Create Batch", declared once for every manager kind's settings model.
CreateBatch = Annotated[
    bool,
    Field(
        title="Automatically Create Batch",
        description="Create batches at prepare (off: add payments to batches later)",
    ),
]


def _no_callback_tokens(batch_ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, str]:
    return {}


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
    # The manager's ``callback_token_hashes``: stored with each new batch.
    callback_token_hashes: CallbackTokenHashes = _no_callback_tokens


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
            _("cycle {name!r} is {state}: only an approved cycle is paid").format(
                name=cycle.name, state=cycle.state
            )
        )
    check_room(spec.file_format, spec.max_file_bytes)
    read_aside = readers.sees_only_committed_data(session)
    if not dry_run:
        lock_approved_cycle(session, cycle)
    report = PreparationReport(cycle=cycle.name, dry_run=dry_run)
    report.already_paid = readers.count_already_paid(session, cycle)
    with (
        _sqlite_cache(session),
        closing(_pages(session, cycle, spec, read_aside)) as pages,
        _Preparation(session, cycle, spec, report, dry_run) as preparation,
    ):
        done = 0
        for page in pages:
            for row in page:
                preparation.add(*row)
            preparation.pause()
            done += len(page)
            if progress is not None:
                progress(done)
        preparation.finish()
    if report.created == 0:
        report.message = _nothing_to_pay(report)
    if not dry_run:
        audit.record(session, actor, AuditAction.PAYMENTS_PREPARED, cycle, _audit_data(report))
    return report


def _pages(session: Session, cycle: Cycle, spec: PrepareSpec, read_aside: bool) -> readers.Pages:
    rule, only_failed = spec.payee, spec.only_failed
    if read_aside:
        return readers.pages_read_aside(session, cycle.id, rule, only_failed=only_failed)
    connection = session.connection()
    return readers.payable_pages(connection, cycle.id, rule, only_failed=only_failed)


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


def _decimal(value: Any) -> Decimal:
    """A value read from the database as Decimal (text, or a number SQLite hands back)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


@dataclass
class _Money:
    """One (amount, fee, currency) of the cycle: its file text, or why it is refused; how
    often it is paid."""

    amount: Decimal
    fee: Decimal
    currency: str
    text: str
    refused: str = ""
    count: int = 0


class _Preparation:
    """Turns page rows into payments placed in batches, written as they come (or only counted,
    in a dry run).

    Ids and amounts stay in the text the database gave them from the read to the write: a
    million rows pass through here without per-value conversions."""

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
        self.now = utcnow()
        self.check = spec.payee.checker()
        self.amounts: dict[tuple[Any, Any, str], _Money] = {}
        self.ids: list[str] = []
        self.skips: list[tuple[str, Any, str]] = []
        self.unpayable: list[tuple[Any, Any, str]] = []  # (entitlement, registrant, reason)
        self.packer: BatchPacker | None = None
        self.payments: RowWriter | None = None
        if spec.create_batch:
            self.packer = BatchPacker(
                spec.file_format,
                spec.payee.type_to_send,
                max_rows=spec.max_batch_size,
                max_bytes=spec.max_file_bytes,
                new_name=self._new_id,
                last_sequence=readers.last_batch_sequence(session, cycle.id),
            )
        if not dry_run:
            fixed = {
                "created_at": self.now,
                "cycle_id": cycle.id,
                "payee_id_type": spec.payee.type_to_send,
                "state": PaymentState.ISSUED,
                "live": True,
            }
            columns = PAYMENT_COLUMNS if spec.create_batch else UNBATCHED_PAYMENT_COLUMNS
            self.payments = RowWriter(session.connection(), Payment.__table__, columns, fixed=fixed)

    def __enter__(self) -> _Preparation:
        return self

    def __exit__(self, *error: Any) -> None:
        """On an error, an unfinished COPY of payments is abandoned (the caller rolls back)."""
        if self.payments is not None and error[0] is not None:
            self.payments.__exit__(*error)

    def _new_id(self) -> str:
        if not self.ids:
            self.ids = new_id_texts(ID_BLOCK)
            self.ids.reverse()  # popped from the end: in ascending order
        return self.ids.pop()

    def add(
        self, eid: Any, code: str, rid: Any, amount_raw: Any, fee_raw: Any,
        currency: str, raw_payee: str | None,
    ) -> None:  # fmt: skip
        """One payable entitlement (a ``prepare_readers.PayableRow``)."""
        value, reason = self.check(raw_payee)
        if value is None:
            self._skip(eid, code, rid, reason or "no payee identifier")
            return
        money = self.amounts.get((amount_raw, fee_raw, currency))
        if money is None:
            money = self.amounts[(amount_raw, fee_raw, currency)] = self._money(
                amount_raw, fee_raw, currency
            )
        if money.refused:
            self._skip(eid, code, rid, money.refused)
            return
        money.count += 1
        request_id = self._new_id()
        packer, payments = self.packer, self.payments
        if packer is not None:
            row = packer.place(request_id, value, money.text, currency, money.amount)
            if payments is not None:
                payments.write(
                    (request_id, eid, rid, packer.batch.name, row, amount_raw, fee_raw,
                     currency, value)
                )  # fmt: skip
        elif payments is not None:
            payments.write((request_id, eid, rid, amount_raw, fee_raw, currency, value))

    def _money(self, amount_raw: Any, fee_raw: Any, currency: str) -> _Money:
        """What one (amount, fee, currency) becomes; cycles repeat a few of them a million times."""
        amount, fee = _decimal(amount_raw), _decimal(fee_raw)
        if self.spec.amount_format is AmountFormat.INTEGER and not is_whole(amount):
            refused = _(
                "amount {amount:f} {currency} has a fractional part; the hub takes "
                "whole amounts (amount_format integer)"
            ).format(amount=amount.normalize(), currency=currency)
            return _Money(amount, fee, currency, "", refused)
        wire = format_amount(amount, currency, self.spec.amount_format)
        return _Money(amount, fee, currency, wire)

    def pause(self) -> None:
        """End of a page: finish writing its payments (the connection is needed for the next
        read), then write the batches closed meanwhile."""
        if self.payments is not None:
            self.payments.close()
        if self.packer is not None:
            self._add_batches(self.packer.take_closed())
        self._report_skips()
        if self.unpayable:
            keep_unpayable(self.session, self.cycle, self.unpayable, self.now)
            self.unpayable = []

    def finish(self) -> None:
        """The last batch closed and written; the report's totals."""
        self.pause()
        if self.packer is not None:
            self._add_batches(self.packer.finish())
        self._totals()
        if not self.dry_run:
            forget_paid_unpayable(self.session, self.cycle)
            self.session.expire_all()

    def _add_batches(self, batches: list[PackedBatch]) -> None:
        for batch in batches:
            self.report.batches += 1
            self.report.file_bytes += batch.size
        if self.dry_run:
            return
        spec = self.spec
        store_batches(
            self.session,
            self.cycle,
            batches,
            now=self.now,
            file_name_prefix=spec.file_name_prefix,
            store_file=spec.make_file_at_prepare,
            token_hashes=spec.callback_token_hashes,
        )

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

    def _skip(self, eid: Any, code: str, rid: Any, reason: str) -> None:
        """Skipped; reported with the registrant's reference at the end of the page, and kept
        (``unpayable``) unless this is a dry run."""
        if not self.dry_run:
            self.unpayable.append((eid, rid, reason))
        if len(self.report.skipped) + len(self.skips) < SKIPPED_KEPT:
            self.skips.append((code, rid, reason))
        else:
            self.report.skipped_count += 1

    def _report_skips(self) -> None:
        if not self.skips:
            return
        references = readers.registrant_references(self.session, {r for _, r, _ in self.skips})
        for code, rid, reason in self.skips:
            self.report.skip(code, references.get(uuid.UUID(str(rid)), ""), reason)
        self.skips = []


def _nothing_to_pay(report: PreparationReport) -> str:
    if report.skipped_count:
        return _(
            "no payment created: all {skipped_count} payable entitlements were skipped"
        ).format(skipped_count=report.skipped_count)
    if report.already_paid:
        return _(
            "nothing left to pay: all {already_paid} approved entitlements already have a payment"
        ).format(already_paid=report.already_paid)
    return _("nothing to pay: the cycle has no approved entitlements")


def _audit_data(report: PreparationReport) -> dict[str, Any]:
    return {
        "created": report.created,
        "batches": report.batches,
        "skipped": report.skipped_count,
        "already_paid": report.already_paid,
        "totals": {c: {"count": t.count, "amount": t.amount} for c, t in report.totals.items()},
    }
