"""Adding payments to batches (SPEC 3.2): payments issued without a batch — prepared while the
manager's "Automatically Create Batch" was off — are packed into new batches.

The same packer, limits (payments per batch, bytes per file), file format and batch writer as
prepare (``packing``, ``batch_store``), so a batch made here is the batch prepare would have made:
payments in the order they were issued, each batch one currency. The cycle is locked first, so
two runs (or a run and a prepare or a cancel) go one after the other and the second finds
nothing left to batch; each payment's update is also conditional on its having no batch yet.
Payments are read in keyset pages and written a page at a time: memory stays flat.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import BusinessRuleViolation, Conflict, FieldError, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.ids import new_id
from g2p_payment_phee.money import AmountFormat, format_amount, is_whole
from g2p_payment_phee.payments.batch_store import lock_approved_cycle, store_batches
from g2p_payment_phee.payments.files import check_room
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.packing import BatchPacker, PackedBatch
from g2p_payment_phee.payments.prepare import PrepareSpec
from g2p_payment_phee.payments.prepare_readers import last_batch_sequence
from g2p_payment_phee.payments.states import PaymentState
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import CycleState
from g2p_payment_phee.users.models import User

PAGE_ROWS = 20_000
MAX_BATCH_SIZE = 1_000_000  # the default manager's own limit


@dataclass
class BatchingReport:
    """What adding payments to batches did: payments batched, the batches made, per currency."""

    cycle: str
    batched: int = 0
    batches: list[str] = field(default_factory=list)  # names, in sequence order
    file_bytes: int = 0
    amounts: dict[str, Decimal] = field(default_factory=dict)


def waiting_count(session: Session, cycle: Cycle) -> int:
    """How many of the cycle's payments were issued without a batch and wait for one."""
    query = select(func.count()).select_from(Payment).where(*_waiting(cycle.id))
    return int(session.scalar(query) or 0)


def _waiting(cycle_id: uuid.UUID) -> tuple[Any, ...]:
    return (
        Payment.cycle_id == cycle_id,
        Payment.batch_id.is_(None),
        Payment.state == PaymentState.ISSUED,
    )


def check_batchable(session: Session, cycle: Cycle) -> None:
    """BusinessRuleViolation unless the cycle is approved and has payments waiting for a
    batch."""
    if cycle.state is not CycleState.APPROVED:
        raise BusinessRuleViolation(
            _("cycle {name!r} is {state}: only an approved cycle's payments are batched").format(
                name=cycle.name, state=cycle.state
            )
        )
    if waiting_count(session, cycle) == 0:
        raise BusinessRuleViolation(
            _(
                "cycle {name!r} has no payment waiting for a batch: every issued "
                "payment is in a batch already (payments are issued by prepare)"
            ).format(name=cycle.name)
        )


def check_max_size(max_size: int | None) -> None:
    """ValidationFailed unless ``max_size`` is None or 1 to MAX_BATCH_SIZE."""
    if max_size is not None and not 1 <= max_size <= MAX_BATCH_SIZE:
        raise ValidationFailed(
            _("max size {max_size} is out of range").format(max_size=max_size),
            [
                FieldError(
                    "max_size",
                    _("payments per batch: 1 to {MAX_BATCH_SIZE:,}").format(
                        MAX_BATCH_SIZE=MAX_BATCH_SIZE
                    ),
                )
            ],
        )


def add_to_batches(
    session: Session,
    actor: User,
    cycle: Cycle,
    spec: PrepareSpec,
    *,
    max_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> BatchingReport:
    """Pack every payment of the cycle that waits for a batch into new ``prepared`` batches
    (``max_size`` payments at most, else the manager's); audited. BusinessRuleViolation when
    none waits, or when they cannot go into this manager's files as they are."""
    check_max_size(max_size)
    check_room(spec.file_format, spec.max_file_bytes)
    check_batchable(session, cycle)
    lock_approved_cycle(session, cycle)
    check_batchable(session, cycle)  # again, now that no one else can batch it
    report = BatchingReport(cycle=cycle.name)
    batcher = _Batcher(session, cycle, spec, report, max_size or spec.max_batch_size)
    after: uuid.UUID | None = None
    while rows := _page(session, cycle.id, after):
        batcher.add_page(rows)
        after = rows[-1][0]
        if progress is not None:
            progress(report.batched)
    batcher.finish()
    session.expire_all()
    audit.record(
        session,
        actor,
        AuditAction.PAYMENTS_BATCHED,
        cycle,
        {
            "batched": report.batched,
            "batches": len(report.batches),
            "amounts": {c: str(a) for c, a in report.amounts.items()},
            "max_size": max_size or spec.max_batch_size,
        },
    )
    return report


def _page(session: Session, cycle_id: uuid.UUID, after: uuid.UUID | None) -> Sequence[Any]:
    p = Payment
    query = select(p.id, p.payee_id_type, p.payee_id_value, p.amount_issued, p.currency).where(
        *_waiting(cycle_id)
    )
    if after is not None:
        query = query.where(p.id > after)
    return session.execute(query.order_by(p.id).limit(PAGE_ROWS)).tuples().all()


class _Batcher:
    """Places a page of payments in batches, then writes their places and the closed batches."""

    def __init__(
        self,
        session: Session,
        cycle: Cycle,
        spec: PrepareSpec,
        report: BatchingReport,
        max_rows: int,
    ) -> None:
        self.session, self.cycle, self.spec, self.report = session, cycle, spec, report
        self.now = utcnow()
        self.packer = BatchPacker(
            spec.file_format,
            spec.payee.type_to_send,
            max_rows=max_rows,
            max_bytes=spec.max_file_bytes,
            new_name=lambda: str(new_id()),
            last_sequence=last_batch_sequence(session, cycle.id),
        )
        self.texts: dict[tuple[Decimal, str], str] = {}
        table = Payment.__table__
        assert isinstance(table, Table)
        self.place = (
            update(table)
            .where(
                table.c.id == bindparam("p_id"),
                table.c.batch_id.is_(None),
                table.c.state == PaymentState.ISSUED.value,
            )
            .values(batch_id=bindparam("p_batch"), batch_row=bindparam("p_row"))
        )

    def add_page(self, rows: Sequence[Any]) -> None:
        places = []
        packer, payee_type = self.packer, self.spec.payee.type_to_send
        for payment_id, stored_type, value, amount, currency in rows:
            if stored_type != payee_type:
                raise BusinessRuleViolation(
                    _(
                        "payment {payment_id} was issued to a {stored_type!r} payee; the "
                        "manager now sends {payee_type!r}: cancel the cycle's waiting payments "
                        "and prepare again"
                    ).format(payment_id=payment_id, stored_type=stored_type, payee_type=payee_type)
                )
            text = self._amount_text(payment_id, Decimal(amount), currency)
            row = packer.place(str(payment_id), value, text, currency, Decimal(amount))
            places.append(
                {"p_id": payment_id, "p_batch": uuid.UUID(packer.batch.name), "p_row": row}
            )
            self.report.amounts[currency] = self.report.amounts.get(currency, Decimal(0)) + amount
        result = self.session.connection().execute(self.place, places)
        if int(result.rowcount) != len(places):
            raise Conflict(_("some payments were batched or cancelled meanwhile; nothing written"))
        self.report.batched += len(places)
        self._store(packer.take_closed())

    def finish(self) -> None:
        self._store(self.packer.finish())

    def _amount_text(self, payment_id: uuid.UUID, amount: Decimal, currency: str) -> str:
        text = self.texts.get((amount, currency))
        if text is None:
            if self.spec.amount_format is AmountFormat.INTEGER and not is_whole(amount):
                raise BusinessRuleViolation(
                    _(
                        "payment {payment_id}: amount {amount:f} {currency} has a "
                        "fractional part; the manager's files take whole amounts "
                        "(amount_format integer): change the amount format, or cancel the "
                        "payment"
                    ).format(payment_id=payment_id, amount=amount.normalize(), currency=currency)
                )
            text = self.texts[(amount, currency)] = format_amount(
                amount, currency, self.spec.amount_format
            )
        return text

    def _store(self, batches: list[PackedBatch]) -> None:
        for batch in batches:
            self.report.batches.append(batch.name)
            self.report.file_bytes += batch.size
        store_batches(
            self.session,
            self.cycle,
            batches,
            now=self.now,
            file_name_prefix=self.spec.file_name_prefix,
            store_file=self.spec.make_file_at_prepare,
            token_hashes=self.spec.callback_token_hashes,
        )
