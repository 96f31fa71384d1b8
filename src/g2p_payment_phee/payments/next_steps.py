"""The next step of each open cycle, in words with the page that takes it: what the dashboard's
"cycles needing action" and the cycle page say, from the cycle's state and where its payments
and batches stand. Reads only: three grouped queries for any number of cycles."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.states import BatchState, PaymentState
from g2p_payment_phee.programs.models import Cycle, Entitlement
from g2p_payment_phee.programs.states import CycleState

TO_SEND = (BatchState.PREPARED, BatchState.REJECTED, BatchState.OUTCOME_UNKNOWN)
AT_THE_HUB = (BatchState.SENDING, BatchState.SUBMITTED)


@dataclass(frozen=True)
class NextStep:
    """What to do next with a cycle, and the page where it is done."""

    text: str
    href: str


def next_steps(session: Session, cycles: Sequence[Cycle]) -> dict[uuid.UUID, NextStep]:
    """The next step of each cycle (a final cycle has none)."""
    ids = [cycle.id for cycle in cycles]
    if not ids:
        return {}
    entitled = dict(
        session.execute(
            select(Entitlement.cycle_id, func.count())
            .where(Entitlement.cycle_id.in_(ids))
            .group_by(Entitlement.cycle_id)
        )
        .tuples()
        .all()
    )
    waiting = dict(
        session.execute(
            select(Payment.cycle_id, func.count())
            .where(
                Payment.cycle_id.in_(ids),
                Payment.batch_id.is_(None),
                Payment.state == PaymentState.ISSUED,
            )
            .group_by(Payment.cycle_id)
        )
        .tuples()
        .all()
    )
    batches: dict[uuid.UUID, dict[BatchState, tuple[int, int]]] = defaultdict(dict)
    rows = session.execute(
        select(
            PaymentBatch.cycle_id,
            PaymentBatch.state,
            func.count(),
            func.coalesce(func.sum(PaymentBatch.failed_count), 0),
        )
        .where(PaymentBatch.cycle_id.in_(ids))
        .group_by(PaymentBatch.cycle_id, PaymentBatch.state)
    ).tuples()
    for cycle_id, state, count, failed in rows:
        batches[cycle_id][state] = (int(count), int(failed))
    found = {}
    for cycle in cycles:
        step = _step(cycle, entitled.get(cycle.id, 0), waiting.get(cycle.id, 0), batches[cycle.id])
        if step is not None:
            found[cycle.id] = step
    return found


def _step(
    cycle: Cycle, entitled: int, waiting: int, batches: dict[BatchState, tuple[int, int]]
) -> NextStep | None:
    page = f"/cycles/{cycle.id}"
    if cycle.state is CycleState.DRAFT:
        if not entitled:
            return NextStep(_("Add entitlements (a fixed amount, or a file of amounts)"), page)
        return NextStep(_("Check the entitlements, then submit the cycle for approval"), page)
    if cycle.state is CycleState.TO_APPROVE:
        return NextStep(
            _("An approver reviews and approves it (or sends it back)"),
            f"{page}/approve",
        )
    if cycle.state is not CycleState.APPROVED:
        return None
    count = {state: n for state, (n, _) in batches.items()}
    if waiting:
        return NextStep(
            _("Add the {waiting} waiting payments to batches").format(waiting=waiting),
            f"{page}#add-to-batches",
        )
    if not count:
        return NextStep(
            _("Prepare the payments (a dry run shows them first)"),
            f"{page}/prepare",
        )
    to_send = sum(count.get(state, 0) for state in TO_SEND)
    if to_send:
        return NextStep(
            _("Send the {to_send} batches to the hub").format(to_send=to_send),
            f"{page}/send",
        )
    at_hub = sum(count.get(state, 0) for state in AT_THE_HUB)
    if at_hub:
        text = _(
            "Wait for the hub to pay {at_hub} batches (the sweep syncs them), or sync now"
        ).format(at_hub=at_hub)
        return NextStep(text, f"{page}/sync")
    failed = sum(failed for state, (_, failed) in batches.items() if state is BatchState.COMPLETED)
    if failed:
        return NextStep(_("Retry the failed payments, or mark the cycle distributed"), page)
    return NextStep(_("Mark the cycle distributed"), page)
