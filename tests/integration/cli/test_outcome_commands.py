"""People first on the command line: ``status`` counts beneficiaries by outcome before payment
attempts, and ``cycles distribute`` names who was not paid and takes a reason for them."""

from __future__ import annotations

from sqlalchemy import select

from g2p_payment_phee.audit import AuditAction, AuditEvent
from tests.integration.cli import test_paying_commands as paying
from tests.integration.cli.test_paying_commands import CLOSED, Run, _row
from tests.integration.phee.conftest import PheeProgram

cli = paying.run  # the same ``g2p-phee --as admin`` fixture


def test_status_counts_people_and_distribute_asks_why_some_were_not_paid(
    phee_program: PheeProgram, cli: Run
) -> None:
    p, run = phee_program, cli
    p.hub.set_outcomes({"failing_payees": {CLOSED: "Payee account closed"}})
    cycle = p.prepared_cycle(3)
    run("send", cycle.name)
    p.hub.complete_all()
    run("sync", cycle.name)
    run("retry-failed", cycle.name)  # fails again: one person, two attempts
    run("send", cycle.name)
    p.hub.complete_all()
    run("sync", cycle.name)

    status = run("status", cycle.name)
    assert _row(status, "approved") == ["3", "300.00 KES"]
    assert _row(status, "paid") == ["2", "200.00 KES"]
    assert _row(status, "failed") == ["1", "100.00 KES"]
    assert "why not paid: Payee account closed (1)" in status
    assert _row(status, "payments failed") == ["2", "200.00 KES"]  # the attempts
    assert status.index("beneficiaries") < status.index("payment attempts of")

    refused = run("cycles", "distribute", cycle.name, code=9)
    assert "1 of 3 approved beneficiaries were not paid (1 failed)" in refused
    done = run(
        "cycles", "distribute", cycle.name, "--unpaid-reason", "paid in cash at the county office"
    )
    assert "is distributed" in done
    p.session.expire_all()
    event = p.session.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.CYCLE_DISTRIBUTED)
    ).one()
    assert event.data["unpaid"] == {"failed": 1}
    assert event.data["unpaid_reason"] == "paid in cash at the county office"
