"""What became of each beneficiary of a cycle: one outcome per entitlement, from its payments.

A payment is one attempt; people are counted once, by the outcome of their entitlement:

- ``paid``: its live payment was paid;
- ``pending``: its live payment was handed to the hub, no final answer yet ("pending at the
  hub");
- ``not_sent``: its live payment waits to be sent, or it has no payment yet ("not sent yet");
- ``not_payable``: the latest prepare could not pay it (``payments.unpayable``, with the reason);
- ``failed``: every payment failed (the last attempt's reason, and how many attempts);
- ``cancelled``: its payments were cancelled before they were sent (payable again), or the
  entitlement was cancelled;
- ``rejected``: the approver rejected it.

The totals (``cycle_outcomes``) come from the batches' counters and the entitlements' totals,
plus two small queries over what is not live (failed and cancelled payments) and over the
unpayable entitlements: their cost follows the batches and the failures, not the cycle's size,
so they stay fast at a million beneficiaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import case, exists, func, literal_column, select
from sqlalchemy.orm import Session

from g2p_payment_phee.i18n import _, lazy_gettext
from g2p_payment_phee.payments.models import (
    IS_FAILED,
    IS_LIVE,
    Payment,
    PaymentBatch,
    UnpayableEntitlement,
)
from g2p_payment_phee.payments.overview import cycle_payment_totals
from g2p_payment_phee.payments.states import BatchState, PaymentStatus
from g2p_payment_phee.programs.models import Cycle, Entitlement
from g2p_payment_phee.programs.service import cycle_totals
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize


class Outcome(StrEnum):
    """What became of one entitlement."""

    PAID = "paid"
    FAILED = "failed"
    PENDING = "pending"
    NOT_SENT = "not_sent"
    NOT_PAYABLE = "not_payable"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        """How people read it."""
        return str(_LABELS[self])


_LABELS = {
    Outcome.PAID: lazy_gettext("paid"),
    Outcome.FAILED: lazy_gettext("failed"),
    Outcome.PENDING: lazy_gettext("pending at the hub"),
    Outcome.NOT_SENT: lazy_gettext("not sent yet"),
    Outcome.NOT_PAYABLE: lazy_gettext("not payable"),
    Outcome.CANCELLED: lazy_gettext("cancelled"),
    Outcome.REJECTED: lazy_gettext("rejected"),
}
NOT_FINAL = (Outcome.PENDING, Outcome.NOT_SENT)


@dataclass(frozen=True)
class People:
    """How many beneficiaries, and the amount approved for them (``paid``: also the amount
    paid)."""

    count: int = 0
    amount: Decimal = Decimal(0)


@dataclass(frozen=True)
class CycleOutcomes:
    """A cycle's beneficiaries by outcome, and its payment attempts, labelled as attempts."""

    currency: str
    people: dict[Outcome, People]
    approved: People
    amount_paid: Decimal
    attempts: int  # payments made, whatever became of them (cancelled ones excluded)
    failed_attempts: int
    fees: Decimal = Decimal(0)
    reasons: list[tuple[str, int]] = field(default_factory=list)  # top failure reasons

    def count(self, outcome: Outcome) -> int:
        """How many beneficiaries have this outcome."""
        return self.people.get(outcome, People()).count

    @property
    def unpaid(self) -> int:
        """Approved beneficiaries not paid (whatever the reason)."""
        return self.approved.count - self.count(Outcome.PAID)

    @property
    def open(self) -> int:
        """Beneficiaries whose payment is not final yet."""
        return sum(self.count(o) for o in NOT_FINAL)


def cycle_outcomes(
    session: Session, actor: User, cycle: Cycle, *, reasons: int = 5
) -> CycleOutcomes:
    """The cycle's people by outcome, with amounts; the top ``reasons`` failure reasons."""
    authorize(actor, Permission.VIEW)
    entitlements = cycle_totals(session, cycle)
    approved = People(
        entitlements.counts.get(EntitlementState.APPROVED, 0),
        entitlements.amounts.get(EntitlementState.APPROVED, Decimal(0)),
    )
    people: dict[Outcome, People] = {}
    for state, outcome in (
        (EntitlementState.REJECTED, Outcome.REJECTED),
        (EntitlementState.CANCELLED, Outcome.CANCELLED),
    ):
        if entitlements.counts.get(state):
            people[outcome] = People(entitlements.counts[state], entitlements.amounts[state])
    live = _live(session, cycle)
    not_live = _not_live(session, cycle)
    failed, cancelled = not_live.failed, not_live.cancelled
    unpayable = _unpayable(session, cycle)
    parts = {
        Outcome.PAID: live["paid"],
        Outcome.PENDING: live["pending"],
        Outcome.FAILED: failed,
        Outcome.NOT_PAYABLE: unpayable,
    }
    counted = [live["issued"], *parts.values(), cancelled]
    never = People(
        approved.count - sum(p.count for p in counted),
        approved.amount - sum((p.amount for p in counted), Decimal(0)),
    )
    parts[Outcome.NOT_SENT] = People(
        live["issued"].count + never.count, live["issued"].amount + never.amount
    )
    if cancelled.count:
        before = people.get(Outcome.CANCELLED, People())
        parts[Outcome.CANCELLED] = People(
            before.count + cancelled.count, before.amount + cancelled.amount
        )
    people.update({k: v for k, v in parts.items() if v.count})
    attempts, failed_attempts, paid_amount = _attempts(session, cycle)
    return CycleOutcomes(
        currency=cycle.program.currency,
        people=people,
        approved=approved,
        amount_paid=paid_amount,
        attempts=attempts,
        failed_attempts=failed_attempts,
        reasons=_top_reasons(session, cycle, not_live.reasons, reasons),
    )


def _live(session: Session, cycle: Cycle) -> dict[str, People]:
    """The live payments by state — each one beneficiary — with the amounts issued to them."""
    totals = cycle_payment_totals(session, cycle)
    b = PaymentBatch
    sent_not_failed = session.scalar(
        select(func.coalesce(func.sum(b.sent_amount - b.failed_amount), 0)).where(
            b.cycle_id == cycle.id, b.state != BatchState.CANCELLED
        )
    )
    issued = totals.payments.get("issued", (0, Decimal(0)))
    pending = totals.payments.get("sent", (0, Decimal(0)))
    paid = totals.payments.get("paid", (0, Decimal(0)))
    paid_issued = Decimal(sent_not_failed or 0) - pending[1]
    return {
        "issued": People(issued[0], issued[1]),
        "pending": People(pending[0], pending[1]),
        "paid": People(paid[0], paid_issued),
    }


def _no_live_payment() -> Any:
    live = Payment.__table__.alias("live_payment")
    # the live-payment index's very predicate (as IS_LIVE): SQLite would read ``live = 1`` as
    # another condition and scan every payment for each one that is no longer live
    return ~exists().where(
        live.c.entitlement_id == Payment.entitlement_id, literal_column("live_payment.live")
    )


def _not_unpayable(entitlement_id: Any) -> Any:
    return ~exists().where(UnpayableEntitlement.entitlement_id == entitlement_id)


@dataclass
class _NotLive:
    """Beneficiaries with no live payment and no unpayable row: every payment failed (at least
    one failed), or only cancelled ones; and the reason of each failed one's latest attempt."""

    failed: People = People()
    cancelled: People = People()
    reasons: dict[str, int] = field(default_factory=dict)


def _not_live(session: Session, cycle: Cycle) -> _NotLive:
    """The cycle's payments that are no longer live (failed and cancelled: the partial index
    holds only those), one per beneficiary — the latest failed one, else the latest cancelled
    one — counted by whether any failed and by reason. A payment's amount is its
    entitlement's (prepare copies it), so no join is needed; the database does the grouping,
    and a few rows come back whatever the failures."""
    failed = case((Payment.status == PaymentStatus.FAILED, 1), else_=0)
    per_payment = (
        select(
            func.max(failed).over(partition_by=Payment.entitlement_id).label("any_failed"),
            func.row_number()
            .over(partition_by=Payment.entitlement_id, order_by=(failed.desc(), Payment.id.desc()))
            .label("rank"),
            Payment.failure_reason.label("reason"),
            Payment.amount_issued.label("amount"),
        )
        .where(
            Payment.cycle_id == cycle.id,
            IS_FAILED,
            _no_live_payment(),
            _not_unpayable(Payment.entitlement_id),
        )
        .subquery()
    )
    rows = session.execute(
        select(
            per_payment.c.any_failed,
            per_payment.c.reason,
            func.count(),
            func.coalesce(func.sum(per_payment.c.amount), 0),
        )
        .where(per_payment.c.rank == 1)
        .group_by(per_payment.c.any_failed, per_payment.c.reason)
    ).tuples()
    found = _NotLive()
    for any_failed, reason, count, amount in rows:
        if int(any_failed):
            found.failed = People(found.failed.count + count, found.failed.amount + amount)
            text = reason or _("no reason given")
            found.reasons[text] = found.reasons.get(text, 0) + int(count)
        else:
            found.cancelled = People(found.cancelled.count + count, found.cancelled.amount + amount)
    return found


def _unpayable(session: Session, cycle: Cycle) -> People:
    u = UnpayableEntitlement
    count, amount = session.execute(
        select(func.count(), func.coalesce(func.sum(Entitlement.initial_amount), 0))
        .select_from(u)
        .join(Entitlement, Entitlement.id == u.entitlement_id)
        .where(u.cycle_id == cycle.id, Entitlement.state == EntitlementState.APPROVED)
    ).one()
    return People(int(count), Decimal(amount))


def _attempts(session: Session, cycle: Cycle) -> tuple[int, int, Decimal]:
    """Payments made (cancelled ones aside), those that failed, and the amount paid."""
    b = PaymentBatch
    made, failed, paid = session.execute(
        select(
            func.coalesce(func.sum(b.issued_count), 0),
            func.coalesce(func.sum(b.failed_count), 0),
            func.coalesce(func.sum(b.paid_amount), 0),
        ).where(b.cycle_id == cycle.id, b.state != BatchState.CANCELLED)
    ).one()
    waiting = session.scalar(
        select(func.count()).where(
            Payment.cycle_id == cycle.id, Payment.batch_id.is_(None), IS_LIVE
        )
    )
    return int(made) + int(waiting or 0), int(failed), Decimal(paid)


def _top_reasons(
    session: Session, cycle: Cycle, failed: dict[str, int], limit: int
) -> list[tuple[str, int]]:
    """The most frequent reasons people were not paid: the failed ones by their latest
    attempt's reason, the unpayable ones by theirs; each person counted once."""
    u = UnpayableEntitlement
    skipped = session.execute(
        select(u.reason, func.count()).where(u.cycle_id == cycle.id).group_by(u.reason)
    ).tuples()
    counts = dict(failed)
    for text, count in skipped:
        counts[str(text)] = counts.get(str(text), 0) + int(count)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:limit]
