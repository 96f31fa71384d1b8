"""``/cycles/{id}``: detail with totals, entitlements, the approval workflow, distribution."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import NotFound
from g2p_payment_phee.i18n import _
from g2p_payment_phee.import_jobs.kinds import ImportKind
from g2p_payment_phee.pagination import DEFAULT_LIMIT
from g2p_payment_phee.payments import duplicates
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.duplicates import MAX_REASON, PaidTwice
from g2p_payment_phee.payments.outcomes import CycleOutcomes, Outcome, cycle_outcomes
from g2p_payment_phee.payments.overdue import OverdueReport, overdue_payments
from g2p_payment_phee.payments.overview import cycle_payment_totals
from g2p_payment_phee.payments.reconciliation import EntitlementOutcome, outcomes_of
from g2p_payment_phee.payments.resend import BatchWait, waiting_batches
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.programs import service
from g2p_payment_phee.programs.entitlement_import import import_entitlements
from g2p_payment_phee.programs.listing import list_entitlements
from g2p_payment_phee.programs.models import Cycle, Entitlement
from g2p_payment_phee.programs.states import CycleState, EntitlementState
from g2p_payment_phee.users.permissions import Permission, authorize
from g2p_payment_phee.web.api.jobs import JOB_ACCEPTED, job_accepted
from g2p_payment_phee.web.api.schemas import (
    Amount,
    AmountIn,
    Limit,
    PublicModel,
)
from g2p_payment_phee.web.api.tables import Paging, TablePublic, table_of
from g2p_payment_phee.web.api.uploads import (
    UPLOAD_OPENAPI,
    ApiUpload,
    DryRun,
    FormatQuery,
    ImportReportPublic,
    check_text,
    import_job,
    report_public,
)
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/cycles", tags=["cycles"])

MAX_AMOUNT = Decimal("1e15")


class CyclePublic(PublicModel):
    """A cycle of a program."""

    id: uuid.UUID
    program_id: uuid.UUID
    name: str
    sequence: int
    start_date: date
    end_date: date
    state: CycleState
    submitted_by_id: uuid.UUID | None
    submitted_at: datetime | None
    approved_by_id: uuid.UUID | None
    approved_at: datetime | None
    created_at: datetime


class CyclesPublic(BaseModel):
    """A program's cycles, in sequence order."""

    items: list[CyclePublic]


class CountAmount(BaseModel):
    """How many, and how much."""

    count: int
    amount: Amount


class OverdueBatchPublic(BaseModel):
    """A batch the hub accepted long ago whose payments it has not all made final."""

    id: uuid.UUID
    name: str
    phee_batch_id: str | None
    submitted_at: datetime
    open: int


class OverduePublic(BaseModel):
    """Payments accepted more than ``older_than_hours`` ago and still neither paid nor failed
    (reported, never guessed); ``listed_batches`` are the oldest of ``batches``."""

    older_than_hours: int
    payments: int
    batches: int
    oldest_submitted_at: datetime | None
    listed_batches: list[OverdueBatchPublic]


class HubCompletionPublic(BaseModel):
    """One PHEE batch in which the hub reports a payment completed."""

    phee_batch_id: str
    amount: Amount | None
    transaction_id: str | None
    completed_at: datetime | None


class PaidTwiceRecordPublic(BaseModel):
    """A payment the hub paid more than once: where, how much, and whether an approver has
    acknowledged it (with the reason given)."""

    payment_id: uuid.UUID
    correlation_id: str
    times_paid: int
    amount_paid: Amount
    occurrences: list[HubCompletionPublic]
    acknowledged_at: datetime | None
    acknowledged_reason: str | None


class DuplicatedBatchPublic(BaseModel):
    """A batch of ours that PHEE holds more than once under its correlation id."""

    batch: str
    other_phee_batch_ids: list[str]


class PaidTwicePublic(BaseModel):
    """Payments the hub paid more than once (SPEC 2.3); ``payments`` is 0 when there are none.
    While ``unacknowledged`` is not 0 the cycle cannot be distributed. ``records`` lists the
    first 50 payments."""

    payments: int
    times_paid: int
    amount_paid: Amount
    amount_extra: Amount
    currency: str | None
    unacknowledged: int
    batches_duplicated_at_hub: list[DuplicatedBatchPublic]
    records: list[PaidTwiceRecordPublic]


class WaitingBatchPublic(BaseModel):
    """A batch being sent or whose outcome is unknown: why it waits, and until when (None:
    until the next send looks it up at PHEE)."""

    batch: str
    state: BatchState
    reason: str
    until: datetime | None


class ReasonCount(BaseModel):
    """A reason beneficiaries were not paid, and how many."""

    reason: str
    people: int


class PeoplePublic(BaseModel):
    """The cycle's beneficiaries by outcome, each counted once whatever the attempts."""

    approved: CountAmount
    outcomes: dict[str, CountAmount] = Field(
        description="paid, failed, pending (at the hub), not_sent, not_payable, cancelled, "
        "rejected: people and the amount approved for them"
    )
    amount_paid: Amount
    not_paid: int = Field(description="Approved beneficiaries not paid, whatever the reason")
    reasons: list[ReasonCount] = Field(description="Why people were not paid, the top five")


class AttemptsPublic(BaseModel):
    """Payments made (each attempt once; a retry is a second attempt for one person)."""

    made: int
    failed: int


class CycleDetailPublic(CyclePublic):
    """A cycle with its entitlements by state, its beneficiaries by outcome, its payment
    attempts by state and batches by state, the payments the hub paid twice and the batches
    that wait."""

    program_name: str
    currency: str
    entitlements: dict[str, CountAmount]
    people: PeoplePublic
    attempts: AttemptsPublic
    payments: dict[str, CountAmount] = Field(
        description="Payment attempts by state (issued, sent, paid, failed), with amounts"
    )
    batches: dict[str, int]
    overdue: OverduePublic
    paid_twice: PaidTwicePublic
    waiting_batches: list[WaitingBatchPublic]


class PaidTwiceAcknowledge(BaseModel):
    """How the payments paid twice are handled (recovered, accepted, ...); audited."""

    model_config = ConfigDict(str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=MAX_REASON)


class PaidTwiceAcknowledged(BaseModel):
    """How many payments were acknowledged, and the cycle's payments paid twice now."""

    acknowledged: int
    paid_twice: PaidTwicePublic


class CycleActionPublic(BaseModel):
    """A cycle after an action, with what the action did."""

    cycle: CyclePublic
    message: str


class Reason(BaseModel):
    """Why (recorded in the audit log)."""

    reason: str = Field(min_length=1, max_length=2000)


class EntitlementPublic(BaseModel):
    """An entitlement of a cycle."""

    id: uuid.UUID
    code: str
    registrant_id: uuid.UUID
    registrant_reference: str
    initial_amount: Amount
    transfer_fee: Amount
    currency: str
    valid_from: date | None
    valid_until: date | None
    state: EntitlementState
    outcome: Outcome | None = Field(
        default=None,
        description="What became of it: paid, failed, pending (at the hub), not_sent, "
        "not_payable, cancelled, rejected (none before approval)",
    )
    attempts: int = Field(default=0, description="Payments made for it (a retry is another)")
    not_paid_reason: str | None = Field(
        default=None, description="Failed: the last attempt's reason; not payable: why"
    )


class EntitlementsPublic(TablePublic[EntitlementPublic]):
    """A page of a cycle's entitlements, by id (the order they were made in) or ``sort=code``."""


class FixedEntitlementsCreate(BaseModel):
    """One entitlement of ``amount`` for every enrolled beneficiary without one yet."""

    amount: AmountIn = Field(gt=0, lt=MAX_AMOUNT)
    transfer_fee: AmountIn = Field(default=Decimal(0), ge=0, lt=MAX_AMOUNT)
    valid_from: date | None = None
    valid_until: date | None = None

    @model_validator(mode="after")
    def _in_order(self) -> FixedEntitlementsCreate:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class EntitlementsAdded(BaseModel):
    """How many entitlements were added."""

    added: int


def load_cycle(session: Session, cycle_id: uuid.UUID) -> Cycle:
    """The cycle with that id, or NotFound."""
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound(_("no cycle {cycle_id}").format(cycle_id=cycle_id))
    return cycle


def cycle_public(cycle: Cycle) -> CyclePublic:
    """A cycle as answered."""
    return CyclePublic.model_validate(cycle)


def _action(cycle: Cycle, message: str) -> CycleActionPublic:
    return CycleActionPublic(cycle=cycle_public(cycle), message=message)


@router.get("/{cycle_id}")
def read_cycle(cycle_id: uuid.UUID, user: ApiUser, session: DbSession) -> CycleDetailPublic:
    """A cycle with its totals."""
    authorize(user, Permission.VIEW)
    cycle = load_cycle(session, cycle_id)
    entitlements = service.cycle_totals(session, cycle)
    paid = cycle_payment_totals(session, cycle)
    overdue = overdue_payments(session, user, cycle.id, older_than=get_settings().overdue_after)
    outcomes = cycle_outcomes(session, user, cycle)
    return CycleDetailPublic(
        **cycle_public(cycle).model_dump(),
        program_name=cycle.program.name,
        currency=cycle.program.currency,
        entitlements={
            str(state): CountAmount(count=count, amount=entitlements.amounts[state])
            for state, count in entitlements.counts.items()
        },
        people=_people(outcomes),
        attempts=AttemptsPublic(made=outcomes.attempts, failed=outcomes.failed_attempts),
        payments={k: CountAmount(count=c, amount=a) for k, (c, a) in paid.payments.items()},
        batches={str(state): count for state, count in paid.batches.items()},
        overdue=_overdue(overdue),
        paid_twice=paid_twice_public(duplicates.paid_twice(session, cycle.id)),
        waiting_batches=[_waiting(wait) for wait in waiting_batches(session, cycle.id)],
    )


def _people(outcomes: CycleOutcomes) -> PeoplePublic:
    approved = outcomes.approved
    return PeoplePublic(
        approved=CountAmount(count=approved.count, amount=approved.amount),
        outcomes={
            o.value: CountAmount(count=p.count, amount=p.amount) for o, p in outcomes.people.items()
        },
        amount_paid=outcomes.amount_paid,
        not_paid=outcomes.unpaid,
        reasons=[ReasonCount(reason=r, people=n) for r, n in outcomes.reasons],
    )


def paid_twice_public(report: PaidTwice) -> PaidTwicePublic:
    """The payments paid twice as answered."""
    return PaidTwicePublic.model_validate(report.as_json())


def _waiting(wait: BatchWait) -> WaitingBatchPublic:
    return WaitingBatchPublic(
        batch=wait.batch, state=wait.state, reason=wait.reason, until=wait.until
    )


def _overdue(report: OverdueReport) -> OverduePublic:
    listed = [
        OverdueBatchPublic(
            id=b.batch_id,
            name=b.name,
            phee_batch_id=b.phee_batch_id,
            submitted_at=b.submitted_at,
            open=b.open,
        )
        for b in report.listed
    ]
    return OverduePublic(
        older_than_hours=report.hours,
        payments=report.payments,
        batches=report.batches,
        oldest_submitted_at=report.oldest,
        listed_batches=listed,
    )


@router.get("/{cycle_id}/entitlements")
def read_entitlements(
    cycle_id: uuid.UUID,
    user: ApiUser,
    session: DbSession,
    paging: Paging,
    state: EntitlementState | None = None,
    q: str | None = Query(
        None,
        max_length=200,
        description="An entitlement code; a registrant's name (its start), reference, phone "
        "or ID number",
    ),
    limit: Limit = DEFAULT_LIMIT,
) -> EntitlementsPublic:
    """A page of the cycle's entitlements, with their count."""
    authorize(user, Permission.VIEW)
    cycle = load_cycle(session, cycle_id)
    page = list_entitlements(
        session, user, cycle.id, state=state, search=q, page=paging.sized(limit)
    )
    outcomes = outcomes_of(session, page.items)
    items = [_entitlement(e, outcomes.get(e.id)) for e in page.items]
    return EntitlementsPublic.model_validate(table_of(items, page))


def _entitlement(row: Entitlement, outcome: EntitlementOutcome | None = None) -> EntitlementPublic:
    return EntitlementPublic(
        outcome=outcome.outcome if outcome else None,
        attempts=outcome.attempts if outcome else 0,
        not_paid_reason=outcome.reason if outcome else None,
        id=row.id,
        code=row.code,
        registrant_id=row.registrant_id,
        registrant_reference=row.registrant.reference,
        initial_amount=row.initial_amount,
        transfer_fee=row.transfer_fee,
        currency=row.currency,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        state=row.state,
    )


@router.post("/{cycle_id}/entitlements")
def add_entitlements(
    cycle_id: uuid.UUID, body: FixedEntitlementsCreate, user: ApiUser, session: DbSession
) -> EntitlementsAdded:
    """A fixed amount for every enrolled beneficiary who has no entitlement in this draft cycle."""
    cycle = load_cycle(session, cycle_id)
    added = service.add_fixed_entitlements(
        session,
        user,
        cycle,
        amount=body.amount,
        transfer_fee=body.transfer_fee,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
    )
    return EntitlementsAdded(added=added)


@router.post(
    "/{cycle_id}/entitlements/import",
    openapi_extra=UPLOAD_OPENAPI,
    response_model=ImportReportPublic,
    responses=JOB_ACCEPTED,
)
def import_entitlement_file(
    cycle_id: uuid.UUID,
    user: ApiUser,
    upload: ApiUpload,
    session: DbSession,
    dry_run: DryRun = False,
    fmt: FormatQuery = None,
) -> Any:
    """Import entitlements with their amounts into a draft cycle (CSV or JSON). A file over
    1 MB is imported by a job: 202 with the job, whose result is the same report."""
    cycle = load_cycle(session, cycle_id)
    path = upload.require()
    check_text(path)
    chosen = upload.format(fmt)
    job = import_job(
        session, user, ImportKind.ENTITLEMENTS, upload, fmt=chosen, dry_run=dry_run, cycle=cycle
    )
    if job is not None:
        return job_accepted(job)
    report = import_entitlements(
        session, user, cycle, path, fmt=chosen, dry_run=dry_run, file_name=upload.name
    )
    return report_public(report)


@router.post("/{cycle_id}/entitlements/{code}/reject")
def reject_entitlement(
    cycle_id: uuid.UUID, code: str, body: Reason, user: ApiUser, session: DbSession
) -> EntitlementPublic:
    """An approver refuses one pending entitlement of a cycle awaiting approval, saying why;
    approving the cycle approves the others."""
    cycle = load_cycle(session, cycle_id)
    entitlement = service.reject_entitlement(session, user, cycle, code, body.reason)
    return _entitlement(entitlement)


@router.post("/{cycle_id}/submit")
def submit(cycle_id: uuid.UUID, user: ApiUser, session: DbSession) -> CycleActionPublic:
    """The maker sends a draft cycle for approval."""
    cycle = load_cycle(session, cycle_id)
    count = service.submit_cycle(session, user, cycle)
    return _action(cycle, _("{count} entitlements pending approval").format(count=count))


@router.post("/{cycle_id}/approve")
def approve(cycle_id: uuid.UUID, user: ApiUser, session: DbSession) -> CycleActionPublic:
    """The checker (not the maker) approves the cycle and its pending entitlements."""
    cycle = load_cycle(session, cycle_id)
    count = service.approve_cycle(session, user, cycle)
    return _action(cycle, _("{count} entitlements approved").format(count=count))


@router.post("/{cycle_id}/return")
def return_to_draft(
    cycle_id: uuid.UUID, body: Reason, user: ApiUser, session: DbSession
) -> CycleActionPublic:
    """Send a cycle awaiting approval back to draft."""
    cycle = load_cycle(session, cycle_id)
    count = service.return_cycle_to_draft(session, user, cycle, body.reason)
    return _action(cycle, _("{count} entitlements back to draft").format(count=count))


@router.post("/{cycle_id}/cancel")
def cancel(
    cycle_id: uuid.UUID, body: Reason, user: ApiUser, session: DbSession
) -> CycleActionPublic:
    """Cancel a cycle that is not final."""
    cycle = load_cycle(session, cycle_id)
    service.cancel_cycle(session, user, cycle, body.reason)
    return _action(cycle, _("cycle cancelled"))


@router.post("/{cycle_id}/paid-twice/acknowledge")
def acknowledge_paid_twice(
    cycle_id: uuid.UUID, body: PaidTwiceAcknowledge, user: ApiUser, session: DbSession
) -> PaidTwiceAcknowledged:
    """An approver acknowledges the cycle's payments the hub paid more than once, saying how
    they are handled; distribution waits for this. 409 when none waits for it."""
    cycle = load_cycle(session, cycle_id)
    count = duplicates.acknowledge_paid_twice(session, user, cycle, body.reason)
    report = duplicates.paid_twice(session, cycle.id)
    return PaidTwiceAcknowledged(acknowledged=count, paid_twice=paid_twice_public(report))


class DistributeRequest(BaseModel):
    """What happens to the beneficiaries who were not paid (needed when there are any)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    unpaid_reason: str = Field(default="", max_length=2000)


@router.post("/{cycle_id}/distribute")
def distribute(
    cycle_id: uuid.UUID, user: ApiUser, session: DbSession, body: DistributeRequest | None = None
) -> CycleActionPublic:
    """Mark the cycle distributed once every payment is final. When approved beneficiaries
    were not paid, 409 says how many and why unless ``unpaid_reason`` says what happens to
    them (audited)."""
    cycle = load_cycle(session, cycle_id)
    reason = body.unpaid_reason if body else ""
    payments.mark_distributed(session, user, cycle, unpaid_reason=reason)
    outcomes = cycle_outcomes(session, user, cycle)
    unpaid = f": {payments.unpaid_text(outcomes)}" if outcomes.unpaid else ""
    return _action(cycle, _("cycle distributed") + unpaid)


@router.post("/{cycle_id}/end")
def end(cycle_id: uuid.UUID, user: ApiUser, session: DbSession) -> CycleActionPublic:
    """Close the cycle for good: a distributed one, or an approved one with nothing to pay."""
    cycle = load_cycle(session, cycle_id)
    payments.end_cycle(session, user, cycle)
    return _action(cycle, _("cycle ended"))
