"""``g2p-phee programs …`` and ``g2p-phee cycles …``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import display
from g2p_payment_phee.payments import duplicates
from g2p_payment_phee.programs import service
from g2p_payment_phee.programs.models import Cycle, ManagerKind, TargetType

programs_app = typer.Typer(help="Programs and their beneficiaries.", no_args_is_help=True)
cycles_app = typer.Typer(help="Cycles, entitlements and approval.", no_args_is_help=True)

ProgramOpt = Annotated[
    str | None, typer.Option("--program", "-p", help="Program (when cycle names repeat).")
]


@programs_app.command("create")
def create_program(
    ctx: typer.Context,
    name: str,
    currency: Annotated[str, typer.Option(help="ISO 4217 code, e.g. KES")],
    target: Annotated[TargetType, typer.Option()] = TargetType.INDIVIDUAL,
    manager: Annotated[ManagerKind, typer.Option(help="Payment manager kind")] = ManagerKind.PHEE,
    budget: Annotated[str | None, typer.Option(help="Optional budget (decimal)")] = None,
    maker_checker: Annotated[bool, typer.Option(" /--no-maker-checker")] = True,
) -> None:
    """Create a program."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        program = service.create_program(
            session,
            cli.actor(session),
            name=name,
            currency=currency,
            target_type=target,
            manager_kind=manager,
            budget=budget,
            maker_checker=maker_checker,
        )
        console.print(
            _("created program {name} ({currency}, id {id})").format(
                name=program.name, currency=program.currency, id=program.id
            )
        )


@programs_app.command("list")
def list_programs(ctx: typer.Context) -> None:
    """List programs."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        table = Table(
            _("name"),
            _("currency"),
            _("target"),
            _("manager"),
            _("budget"),
            _("enrolled"),
            _("state"),
        )
        for program in service.list_programs(session, cli.actor(session)):
            budget = (
                display(program.budget, program.currency) if program.budget is not None else "-"
            )
            table.add_row(
                program.name,
                program.currency,
                program.target_type,
                program.manager_kind,
                budget,
                str(service.enrolled_count(session, program)),
                program.state,
            )
        console.print(table)


@programs_app.command("enrol")
def enrol(
    ctx: typer.Context,
    program: str,
    references: Annotated[list[str] | None, typer.Argument(help="Registrant references")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Enrol every registrant of the type")] = False,
) -> None:
    """Enrol registrants (by reference, or --all of the program's target type)."""
    if not all_ and not references:
        raise typer.BadParameter(_("give registrant references or --all"))
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = service.get_program(session, program)
        count = service.enrol(session, cli.actor(session), found, None if all_ else references)
        console.print(
            _("enrolled {count} new beneficiaries in {name}").format(count=count, name=found.name)
        )


@cycles_app.command("create")
def create_cycle(
    ctx: typer.Context,
    program: str,
    name: str,
    start: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="YYYY-MM-DD")],
) -> None:
    """Create a draft cycle in a program."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = service.get_program(session, program)
        cycle = service.create_cycle(
            session,
            cli.actor(session),
            found,
            name=name,
            start=_date(start, "--start"),
            end=_date(end, "--end"),
        )
        console.print(
            _("created cycle {name} (#{sequence}, id {id})").format(
                name=cycle.name, sequence=cycle.sequence, id=cycle.id
            )
        )


@cycles_app.command("list")
def list_cycles(
    ctx: typer.Context, program: Annotated[str | None, typer.Argument()] = None
) -> None:
    """List cycles with their entitlement counts."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = service.get_program(session, program) if program else None
        table = Table(
            _("program"), "#", _("cycle"), _("dates"), _("state"), _("entitlements"), _("amount")
        )
        for cycle in service.list_cycles(session, cli.actor(session), found):
            totals = service.cycle_totals(session, cycle)
            amount = sum(totals.amounts.values(), start=Decimal(0))
            table.add_row(
                cycle.program.name,
                str(cycle.sequence),
                cycle.name,
                f"{cycle.start_date} → {cycle.end_date}",
                cycle.state,
                str(totals.total),
                display(amount, cycle.program.currency),
            )
        console.print(table)


@cycles_app.command("show")
def show_cycle(ctx: typer.Context, cycle: str, program: ProgramOpt = None) -> None:
    """A cycle's entitlements by state, with amounts."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = _cycle(session, cycle, program)
        cli.actor(session)
        print_cycle(session, found)


def print_cycle(session: Session, cycle: Cycle) -> None:
    """The cycle's header line and its entitlements per state."""
    totals = service.cycle_totals(session, cycle)
    console.print(
        _("cycle {name} of {program}: {state}").format(
            name=cycle.name, program=cycle.program.name, state=cycle.state
        )
    )
    table = Table(_("entitlement state"), _("count"), _("amount"))
    for entitlement_state, count in sorted(totals.counts.items()):
        amount = display(totals.amounts[entitlement_state], cycle.program.currency)
        table.add_row(entitlement_state, str(count), amount)
    console.print(table)


@cycles_app.command("add-entitlements")
def add_entitlements(
    ctx: typer.Context,
    cycle: str,
    amount: Annotated[str, typer.Option(help="Fixed amount for every enrolled beneficiary")],
    fee: Annotated[str, typer.Option(help="Transfer fee")] = "0",
    program: ProgramOpt = None,
) -> None:
    """Give every enrolled beneficiary without one a draft entitlement of a fixed amount."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = _cycle(session, cycle, program)
        count = service.add_fixed_entitlements(
            session, cli.actor(session), found, amount=amount, transfer_fee=fee
        )
        console.print(
            _("added {count} entitlements to {name}").format(count=count, name=found.name)
        )


@cycles_app.command("submit")
def submit(ctx: typer.Context, cycle: str, program: ProgramOpt = None) -> None:
    """Send a draft cycle for approval (the maker)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = _cycle(session, cycle, program)
        count = service.submit_cycle(session, cli.actor(session), found)
        console.print(
            _("cycle {name} is {state}: {count} entitlements pending").format(
                name=found.name, state=found.state, count=count
            )
        )


@cycles_app.command("approve")
def approve(ctx: typer.Context, cycle: str, program: ProgramOpt = None) -> None:
    """Approve a cycle and its pending entitlements (the checker, not the maker)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = _cycle(session, cycle, program)
        count = service.approve_cycle(session, cli.actor(session), found)
        console.print(
            _("cycle {name} is {state}: {count} entitlements approved").format(
                name=found.name, state=found.state, count=count
            )
        )


@cycles_app.command("return")
def return_to_draft(
    ctx: typer.Context,
    cycle: str,
    reason: Annotated[str, typer.Option(help="Why it goes back")],
    program: ProgramOpt = None,
) -> None:
    """Send a cycle awaiting approval back to draft."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = _cycle(session, cycle, program)
        service.return_cycle_to_draft(session, cli.actor(session), found, reason)
        console.print(_("cycle {name} is {state}").format(name=found.name, state=found.state))


@cycles_app.command("reject-entitlement")
def reject_entitlement(
    ctx: typer.Context,
    cycle: str,
    code: str,
    reason: Annotated[str, typer.Option(help="Why it is rejected")],
    program: ProgramOpt = None,
) -> None:
    """Reject one pending entitlement of a cycle awaiting approval (the others go on)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = _cycle(session, cycle, program)
        entitlement = service.reject_entitlement(session, cli.actor(session), found, code, reason)
        console.print(
            _("entitlement {code} is {state}").format(
                code=entitlement.code, state=entitlement.state
            )
        )


@cycles_app.command("cancel")
def cancel(
    ctx: typer.Context,
    cycle: str,
    reason: Annotated[str, typer.Option(help="Why it is cancelled")],
    program: ProgramOpt = None,
) -> None:
    """Cancel a cycle that is not final."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = _cycle(session, cycle, program)
        service.cancel_cycle(session, cli.actor(session), found, reason)
        console.print(_("cycle {name} is {state}").format(name=found.name, state=found.state))


@cycles_app.command("acknowledge-paid-twice")
def acknowledge_paid_twice(
    ctx: typer.Context,
    cycle: str,
    reason: Annotated[
        str, typer.Option(help="How the extra money is handled (recovered, accepted, ...)")
    ],
    program: ProgramOpt = None,
) -> None:
    """An approver acknowledges the cycle's payments PHEE paid more than once, saying how they
    are handled; the cycle may then be distributed and status exits 0 again."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = _cycle(session, cycle, program)
        count = duplicates.acknowledge_paid_twice(session, cli.actor(session), found, reason)
        console.print(
            _("acknowledged {count} payments paid more than once in cycle {name}").format(
                count=count, name=found.name
            )
        )


def _cycle(session: Session, cycle: str, program: str | None) -> Cycle:
    found = service.get_program(session, program) if program else None
    return service.get_cycle(session, cycle, found)


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            _("{text!r} is not a date (YYYY-MM-DD)").format(text=text), param_hint=option
        ) from None
