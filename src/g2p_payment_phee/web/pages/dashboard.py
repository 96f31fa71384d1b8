"""The dashboard: where a program team starts."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.dashboard import CYCLES_DRAWN, CycleFigures, Figures, PaidPerDay, dashboard
from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import display
from g2p_payment_phee.payments.outcomes import Outcome
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.web import charts
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import SignedIn
from g2p_payment_phee.web.pages.rendering import number, render, when

router = APIRouter()
# Rejected entitlements were never going to be paid: they are not drawn.
DRAWN_OUTCOMES = (
    Outcome.PAID,
    Outcome.FAILED,
    Outcome.PENDING,
    Outcome.NOT_SENT,
    Outcome.NOT_PAYABLE,
    Outcome.CANCELLED,
)


@dataclass(frozen=True)
class Pictures:
    """The dashboard's charts, drawn from its figures."""

    cycles: list[tuple[Cycle, Markup]]
    reasons: Markup
    money: list[tuple[PaidPerDay, Markup]]


@router.get("/")
def home(request: Request, session: DbSession, visitor: SignedIn) -> Response:
    """Overdue payments, programs, cycles needing action, recent batches, running jobs, and
    pictures of the cycles being paid and of the money paid."""
    board = dashboard(session, visitor.user, overdue_after=get_settings().overdue_after)
    pictures = draw(board.figures)
    context = {"board": board, "pictures": pictures, "cycles_drawn": CYCLES_DRAWN}
    return render(request, "dashboard.html", context)


def draw(figures: Figures) -> Pictures:
    """The charts of the dashboard's figures."""
    reasons = [charts.Part("reason", text, n, number(n)) for text, n in figures.reasons]
    return Pictures(
        [(line.cycle, _outcomes_chart(i, line)) for i, line in enumerate(figures.cycles)],
        charts.ranked_bars(
            "failure-reasons",
            _("Why beneficiaries were not paid: the most frequent reasons"),
            reasons,
            empty=_("No beneficiary failed or was not payable in these cycles."),
        ),
        [(money, _money_chart(i, money)) for i, money in enumerate(figures.paid_per_day)],
    )


def _outcomes_chart(index: int, line: CycleFigures) -> Markup:
    parts = [
        charts.Part(o.value, o.label, n, number(n))
        for o in DRAWN_OUTCOMES
        if (n := line.outcomes.count(o))
    ]
    title = _("What became of the beneficiaries of {program}, cycle {cycle}").format(
        program=line.cycle.program.name, cycle=line.cycle.name
    )
    return charts.stacked_bar(
        f"cycle-{index}",
        title,
        parts,
        empty=_("No approved beneficiaries in this cycle."),
    )


def _money_chart(index: int, money: PaidPerDay) -> Markup:
    parts = [
        charts.Part("money", when(day), amount, display(amount, money.currency))
        for day, amount in money.days
    ]
    return charts.columns(
        f"paid-per-day-{index}",
        _("Money paid per day in {currency}, last {days} days").format(
            currency=money.currency, days=len(parts)
        ),
        parts,
        total=display(money.total, money.currency),
        empty=_("No batch paying {currency} completed in the last {days} days.").format(
            currency=money.currency, days=len(parts)
        ),
    )
