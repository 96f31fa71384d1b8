"""The default payment manager: batches exported as files for manual payment, results imported.

Its batches are paid outside the product (a bank portal, cash): ``send`` hands the prepared
batches over (they become submitted, their payments sent), ``export`` gives each batch's file,
and ``import_results`` reconciles payments from a results file
(``request_id,status,amount_paid,reason``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.db import unit_of_work, utcnow
from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.imports import Format, ImportReport, guess_format, iter_rows, read_source
from g2p_payment_phee.money import AmountFormat, parse_amount
from g2p_payment_phee.payments.files import BatchFileFormat, safe_text
from g2p_payment_phee.payments.manager import (
    ConnectionReport,
    ManagerKindSpec,
    NoSecrets,
    register_kind,
)
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.payee_rules import (
    PayeeDfspIdType,
    PayeeIdField,
    PayeeIdTypeRewritten,
    rule_for,
)
from g2p_payment_phee.payments.payees import PayeeOption
from g2p_payment_phee.payments.prepare import (
    CreateBatch,
    PreparationReport,
    PrepareSpec,
    prepare_payments,
)
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_payments, refresh_batches
from g2p_payment_phee.payments.reports import (
    BatchSendResult,
    BatchSyncResult,
    SendOutcome,
    SendReport,
    SyncReport,
)
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentState,
    PaymentStatus,
    mark_batch_payments_sent,
    set_batch_state,
)
from g2p_payment_phee.programs.models import Cycle, ManagerKind, Program
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

RESULT_COLUMNS = ("request_id", "status")
RESULT_OPTIONAL = ("amount_paid", "reason", "transaction_id")


class DefaultSettings(BaseModel):
    """Settings of the default (manual payment) manager."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[
        str, Field(min_length=1, max_length=200, title="Name", description="Shown in lists")
    ] = "Manual payment"
    create_batch: CreateBatch = True
    max_batch_size: Annotated[
        int,
        Field(ge=1, le=1_000_000, title="Max Batch Size", description="Payments per batch"),
    ] = 500
    payee_id_type: PayeeIdField = PayeeOption.BANK_ACCOUNT
    reg_id_type_for_payee_id: PayeeDfspIdType = None
    payee_id_type_to_send: PayeeIdTypeRewritten = ""
    file_name_prefix: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9_.-]{0,50}$",
            title="Filename Prefix",
            description="File name is <prefix><batch name>.csv",
        ),
    ] = "payments_"
    amount_format: Annotated[
        AmountFormat, Field(title="Amount Format", description="How amounts are written")
    ] = AmountFormat.DECIMAL


@dataclass(frozen=True)
class ManualCsvFormat:
    """A plain CSV a person pays from: ``row,request_id,payee_type,payee,amount,currency,note``."""

    note: str
    header: str = "row,request_id,payee_identifier_type,payee_identifier,amount,currency,note"

    def line(
        self,
        index: int,
        request_id: str,
        payee_type: str,
        payee_value: str,
        amount: str,
        currency: str,
    ) -> str:
        """One payment to make by hand."""
        return (
            f"{index + 1},{request_id},{payee_type},{payee_value},{amount},{currency},{self.note}"
        )


@dataclass
class DefaultManager:
    """Prepare as usual; hand batches over for manual payment; reconcile from a results file."""

    program: Program
    settings: DefaultSettings
    kind: ManagerKind = ManagerKind.DEFAULT

    def validate_configuration(self, session: Session) -> None:
        """The payee rule must be buildable (e.g. the reg-ID type must exist)."""
        rule_for(session, self.settings)

    def test_connection(self) -> ConnectionReport:
        """Nothing to reach: payments are made by hand."""
        return ConnectionReport(
            _("{name} pays manually: there is no hub to test").format(name=self.program.name)
        )

    @property
    def amount_format(self) -> AmountFormat:
        """How this manager writes amounts in its files."""
        return self.settings.amount_format

    def file_format(self, cycle: Cycle) -> BatchFileFormat:
        """The manual-payment CSV."""
        return ManualCsvFormat(safe_text(f"{self.program.name} {cycle.name}"))

    def prepare(
        self,
        session: Session,
        actor: User,
        cycle: Cycle,
        *,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
        only_failed: bool = False,
    ) -> PreparationReport:
        """prepare_payments, files without a byte limit."""
        authorize(actor, Permission.PREPARE_PAYMENTS)
        spec = self.prepare_spec(session, cycle, only_failed=only_failed)
        return prepare_payments(session, actor, cycle, spec, dry_run=dry_run, progress=progress)

    def prepare_spec(
        self, session: Session, cycle: Cycle, *, only_failed: bool = False
    ) -> PrepareSpec:
        """This program's payee rule and batch size; files without a byte limit."""
        s = self.settings
        return PrepareSpec(
            payee=rule_for(session, s),
            file_format=self.file_format(cycle),
            create_batch=s.create_batch,
            max_batch_size=s.max_batch_size,
            max_file_bytes=10**9,
            file_name_prefix=s.file_name_prefix,
            amount_format=s.amount_format,
            only_failed=only_failed,
        )

    def callback_token_hashes(self, batch_ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, str]:
        """None: batches paid by hand are not called back."""
        return {}

    def send(
        self,
        factory: sessionmaker[Session],
        actor: User,
        batch_ids: Sequence[uuid.UUID],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> SendReport:
        """Hand prepared batches over for manual payment: submitted, payments sent (in one
        transaction: ``progress`` hears of every batch once it is committed)."""
        authorize(actor, Permission.SEND_PAYMENTS)
        with unit_of_work(factory) as session:
            query = select(PaymentBatch).where(PaymentBatch.id.in_(list(batch_ids)))
            handed = []
            for batch in session.scalars(query.order_by(PaymentBatch.sequence)).all():
                if batch.state not in {BatchState.PREPARED, BatchState.REJECTED}:
                    continue
                set_batch_state(session, actor, batch, BatchState.SENDING)
                mark_batch_payments_sent(session, batch)
                details = {"manual": True}
                now = utcnow()
                set_batch_state(
                    session, actor, batch, BatchState.SUBMITTED, details, submitted_at=now
                )
                handed.append(batch)
            refresh_batches(session, actor, [b.id for b in handed])
            report = SendReport(
                [BatchSendResult(b.name, SendOutcome.SUBMITTED, "handed over") for b in handed]
            )
        if progress is not None:
            progress(len(batch_ids))
        return report

    def sync(
        self,
        factory: sessionmaker[Session],
        actor: User | None,
        batch_ids: Sequence[uuid.UUID],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> SyncReport:
        """Nothing to read back: results come by ``import_results``. Recounts the batches."""
        if actor is not None:
            authorize(actor, Permission.VIEW)
        with unit_of_work(factory) as session:
            done = refresh_batches(session, actor, batch_ids)
            report = SyncReport([BatchSyncResult(b.name, completed=True) for b in done])
        if progress is not None:
            progress(len(batch_ids))
        return report


def import_results(
    session: Session,
    actor: User,
    program: Program,
    source: Path | bytes,
    *,
    fmt: Format | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Reconcile the program's payments from a results file; final payments never change."""
    authorize(actor, Permission.SEND_PAYMENTS)
    data, name = read_source(source)
    report = ImportReport(dry_run=dry_run)
    rows = list(
        iter_rows(
            data, name, guess_format(name, fmt), required=RESULT_COLUMNS, optional=RESULT_OPTIONAL
        )
    )
    known = _payments(session, program, [str(values.get("request_id") or "") for _, values in rows])
    outcomes: list[Outcome] = []
    seen: set[uuid.UUID] = set()
    for number, values in rows:
        report.rows += 1
        outcome = _outcome(number, values, known, seen, report)
        if outcome is not None:
            outcomes.append(outcome)
    if not dry_run and outcomes:
        report.updated = reconcile_payments(session, outcomes)
        batches = {known[o.payment_id][1] for o in outcomes} - {None}
        refresh_batches(session, actor, [b for b in batches if b is not None])
    else:
        report.updated = len(outcomes)
    details = {"file": name, "dry_run": dry_run, "reconciled": report.updated}
    audit.record(session, actor, AuditAction.PAYMENTS_RESULTS_IMPORTED, program, details)
    return report


def _payments(
    session: Session, program: Program, request_ids: list[str]
) -> dict[uuid.UUID, tuple[PaymentState, uuid.UUID | None, Decimal]]:
    ids = []
    for text in request_ids:
        try:
            ids.append(uuid.UUID(text))
        except ValueError:
            continue
    found: dict[uuid.UUID, tuple[PaymentState, uuid.UUID | None, Decimal]] = {}
    for start in range(0, len(ids), 2000):
        query = (
            select(Payment.id, Payment.state, Payment.batch_id, Payment.amount_issued)
            .join(Cycle, Cycle.id == Payment.cycle_id)
            .where(Payment.id.in_(ids[start : start + 2000]), Cycle.program_id == program.id)
        )
        for pid, state, batch_id, amount in session.execute(query).tuples().all():
            found[pid] = (state, batch_id, amount)
    return found


def _outcome(
    number: int,
    values: dict[str, Any],
    known: dict[uuid.UUID, tuple[PaymentState, uuid.UUID | None, Decimal]],
    seen: set[uuid.UUID],
    report: ImportReport,
) -> Outcome | None:
    try:
        pid = uuid.UUID(str(values.get("request_id") or ""))
    except ValueError:
        report.reject(
            number,
            "request_id",
            _("{request_id!r} is not a payment request_id").format(
                request_id=values.get("request_id")
            ),
        )
        return None
    if pid not in known:
        report.reject(number, "request_id", _("no payment {pid} in this program").format(pid=pid))
        return None
    if pid in seen:
        report.reject(
            number, "request_id", _("payment {pid} appears twice in the file").format(pid=pid)
        )
        return None
    seen.add(pid)
    state, _batch, issued = known[pid]
    if state is PaymentState.RECONCILED:
        report.reject(
            number, "request_id", _("payment {pid} is already reconciled (final)").format(pid=pid)
        )
        return None
    if state is PaymentState.CANCELLED:
        report.reject(
            number,
            "request_id",
            _("payment {pid} was cancelled before it was sent").format(pid=pid),
        )
        return None
    try:
        status = PaymentStatus(str(values.get("status") or "").strip().lower())
    except ValueError:
        report.reject(
            number,
            "status",
            _("{status!r} is not paid or failed").format(status=values.get("status")),
        )
        return None
    amount = None
    if status is PaymentStatus.PAID:
        raw = values.get("amount_paid")
        try:
            amount = issued if not raw else parse_amount(str(raw))
        except ValidationFailed as error:
            report.reject(number, "amount_paid", error.message)
            return None
    reason = values.get("reason")
    return Outcome(
        pid, status, amount, str(reason) if reason else None, values.get("transaction_id")
    )


def _build(program: Program, settings: BaseModel, secrets: BaseModel) -> DefaultManager:
    assert isinstance(settings, DefaultSettings)
    return DefaultManager(program, settings)


register_kind(
    ManagerKindSpec(
        kind=ManagerKind.DEFAULT,
        label="Manual payment",
        settings_model=DefaultSettings,
        secrets_model=NoSecrets,
        build=_build,
    )
)
