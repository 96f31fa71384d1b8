"""What a program team looks at first: payments the hub paid twice and nobody acknowledged yet,
payments overdue at the hub, programs, cycles that wait for someone, recent batches and the long
work under way.  Reads only, a few small indexed queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.jobs.models import ACTIVE_JOB_STATES, Job
from g2p_payment_phee.payments.models import DuplicatePayment, PaymentBatch
from g2p_payment_phee.payments.overdue import DEFAULT_OVERDUE_AFTER, OverdueReport, overdue_payments
from g2p_payment_phee.programs.models import Cycle, Program
from g2p_payment_phee.programs.states import CycleState
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

OPEN_CYCLE_STATES = (CycleState.DRAFT, CycleState.TO_APPROVE, CycleState.APPROVED)
RECENT = 10


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
    return Dashboard(
        programs, open_cycles, batches, jobs, overdue, unacknowledged_paid_twice(session)
    )


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
