"""What a program team looks at first: payments the hub paid twice and nobody acknowledged yet,
payments overdue at the hub, programs, cycles that wait for someone, recent batches and the long
work under way; and the figures drawn on it (``figures``): what became of the beneficiaries of
the cycles being paid, why people were not paid, and the money paid per day.  Reads only, a few
small indexed queries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.jobs.models import ACTIVE_JOB_STATES, Job
from g2p_payment_phee.payments.models import DuplicatePayment, PaymentBatch
from g2p_payment_phee.payments.next_steps import NextStep, next_steps
from g2p_payment_phee.payments.outcomes import CycleOutcomes, cycle_outcomes
from g2p_payment_phee.payments.overdue import DEFAULT_OVERDUE_AFTER, OverdueReport, overdue_payments
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.programs.models import Cycle, Program
from g2p_payment_phee.programs.states import CycleState
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

OPEN_CYCLE_STATES = (CycleState.DRAFT, CycleState.TO_APPROVE, CycleState.APPROVED)
RECENT = 10
CYCLES_DRAWN = 6  # each costs a few small queries; the most recently approved are drawn
REASONS_DRAWN = 5
PAID_DAYS = 30
# Days are counted in the deployment's time zone: UTC until a setting says otherwise.
DAY_ZONE: tzinfo = UTC


@dataclass(frozen=True)
class ProgramLine:
    """A program with how many cycles it has."""

    program: Program
    cycles: int


@dataclass(frozen=True)
class PaidTwiceLine:
    """A cycle with payments the hub paid more than once that no approver acknowledged yet."""

    cycle: Cycle
    payments: int
    amount_paid: Decimal


@dataclass(frozen=True)
class Dashboard:
    """The dashboard's lists."""

    programs: list[ProgramLine]
    open_cycles: list[Cycle]
    recent_batches: list[PaymentBatch]
    active_jobs: list[Job]
    overdue: OverdueReport
    paid_twice: list[PaidTwiceLine]
    figures: Figures
    next_steps: dict[uuid.UUID, NextStep] = field(default_factory=dict)  # by open cycle


@dataclass(frozen=True)
class CycleFigures:
    """What became of a cycle's beneficiaries."""

    cycle: Cycle
    outcomes: CycleOutcomes


@dataclass(frozen=True)
class PaidPerDay:
    """The money paid in one currency on each of the last days, oldest first (every day, zero
    included), counted on the day its batch completed; ``still_open``: paid in batches that
    are not complete yet, counted on the day they complete."""

    currency: str
    days: list[tuple[date, Decimal]]
    still_open: Decimal

    @property
    def total(self) -> Decimal:
        """Paid over all the days."""
        return sum((amount for _, amount in self.days), Decimal(0))


@dataclass(frozen=True)
class Figures:
    """The dashboard's pictures: the cycles being paid (approved, the most recent first),
    why their beneficiaries were not paid (the most frequent reasons, each beneficiary counted
    once), and the money paid per day in each currency."""

    cycles: list[CycleFigures]
    reasons: list[tuple[str, int]]
    paid_per_day: list[PaidPerDay]


def dashboard(
    session: Session, actor: User, *, overdue_after: timedelta = DEFAULT_OVERDUE_AFTER
) -> Dashboard:
    """Programs, open cycles (draft, waiting for approval, approved and being paid), the latest
    batches, the queued or running jobs, the payments of every cycle that the hub accepted
    more than ``overdue_after`` ago without making them final, and the cycles whose payments
    the hub paid twice without an approver acknowledging them (SPEC 2.3)."""
    authorize(actor, Permission.VIEW)
    counts = select(Cycle.program_id, func.count().label("n")).group_by(Cycle.program_id).subquery()
    programs = [
        ProgramLine(program, int(n or 0))
        for program, n in session.execute(
            select(Program, counts.c.n)
            .outerjoin(counts, counts.c.program_id == Program.id)
            .order_by(Program.name)
        ).tuples()
    ]
    open_cycles = list(
        session.scalars(
            select(Cycle)
            .join(Program)
            .where(Cycle.state.in_(OPEN_CYCLE_STATES))
            .order_by(Program.name, Cycle.sequence)
            .limit(50)
        )
    )
    batches = list(
        session.scalars(
            select(PaymentBatch)
            .order_by(PaymentBatch.created_at.desc(), PaymentBatch.sequence.desc())
            .limit(RECENT)
        )
    )
    jobs = list(
        session.scalars(
            select(Job).where(Job.state.in_(ACTIVE_JOB_STATES)).order_by(Job.created_at).limit(20)
        )
    )
    overdue = overdue_payments(session, actor, older_than=overdue_after, listed=5)
    paid_twice = unacknowledged_paid_twice(session)
    return Dashboard(
        programs,
        open_cycles,
        batches,
        jobs,
        overdue,
        paid_twice,
        figures(session, actor),
        next_steps(session, open_cycles),
    )


def figures(session: Session, actor: User, *, today: date | None = None) -> Figures:
    """The outcomes of the ``CYCLES_DRAWN`` most recently approved cycles still being paid,
    the top failure reasons over them, and the money paid on each of the last ``PAID_DAYS``
    days up to ``today`` (in ``DAY_ZONE``)."""
    authorize(actor, Permission.VIEW)
    cycles = session.scalars(
        select(Cycle)
        .where(Cycle.state == CycleState.APPROVED)
        .order_by(Cycle.approved_at.desc(), Cycle.id)
        .limit(CYCLES_DRAWN)
    )
    # every reason of every cycle, so the top ones over the cycles are the true top ones
    drawn = [CycleFigures(c, cycle_outcomes(session, actor, c, reasons=1000)) for c in cycles]
    reasons: dict[str, int] = {}
    for line in drawn:
        for reason, count in line.outcomes.reasons:
            reasons[reason] = reasons.get(reason, 0) + count
    ranked = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:REASONS_DRAWN]
    day = today or datetime.now(DAY_ZONE).date()
    return Figures(drawn, ranked, paid_per_day(session, day))


def paid_per_day(session: Session, today: date, days: int = PAID_DAYS) -> list[PaidPerDay]:
    """The money paid per day and currency over the ``days`` days up to ``today``.

    Read from the batches (a few hundred rows for a million payments), not the payments: the
    payments' ``settled_at`` has no index, and one would turn the hot status updates into
    non-HOT ones (migrations 0004, 0006); summing the payments means scanning the whole
    table. A batch's money therefore counts on the day the batch completed."""
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, DAY_ZONE)
    b = PaymentBatch
    completed = session.execute(
        select(b.currency, b.completed_at, b.paid_amount).where(
            b.state == BatchState.COMPLETED, b.completed_at >= since, b.paid_amount > 0
        )
    ).tuples()
    per_day: dict[str, dict[date, Decimal]] = {}
    for currency, at, amount in completed:
        if at is None:
            continue
        on = at.astimezone(DAY_ZONE).date()
        if on <= today:
            amounts = per_day.setdefault(currency, {})
            amounts[on] = amounts.get(on, Decimal(0)) + amount
    open_batches = session.execute(
        select(b.currency, func.sum(b.paid_amount))
        .where(b.state == BatchState.SUBMITTED, b.paid_amount > 0)
        .group_by(b.currency)
    ).tuples()
    still_open = {currency: Decimal(amount or 0) for currency, amount in open_batches}
    span = [first + timedelta(days=n) for n in range(days)]
    return [
        PaidPerDay(
            currency,
            [(d, per_day.get(currency, {}).get(d, Decimal(0))) for d in span],
            still_open.get(currency, Decimal(0)),
        )
        for currency in sorted(per_day.keys() | still_open.keys())
    ]


def unacknowledged_paid_twice(session: Session, limit: int = 50) -> list[PaidTwiceLine]:
    """The cycles with payments the hub paid more than once that wait for an approver's
    acknowledgement, with how many and how much was paid for them."""
    pending = (
        select(
            DuplicatePayment.cycle_id,
            func.count().label("n"),
            func.sum(DuplicatePayment.amount_paid).label("paid"),
        )
        .where(DuplicatePayment.acknowledged_at.is_(None))
        .group_by(DuplicatePayment.cycle_id)
        .subquery()
    )
    rows = session.execute(
        select(Cycle, pending.c.n, pending.c.paid)
        .join(pending, pending.c.cycle_id == Cycle.id)
        .join(Program)
        .order_by(Program.name, Cycle.sequence)
        .limit(limit)
    ).tuples()
    return [PaidTwiceLine(cycle, int(n), Decimal(paid or 0)) for cycle, n, paid in rows]
