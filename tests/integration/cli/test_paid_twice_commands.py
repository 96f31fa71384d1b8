"""Payments PHEE paid more than once, from the command line (SPEC 2.3): ``status`` and ``sync``
print them in a red block and exit 12 until an approver acknowledges them with a reason
(``cycles acknowledge-paid-twice``), and distribution waits for that; ``status`` says why a
batch being sent or with an unknown outcome waits, and until when."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import G2PError, exit_code_for
from g2p_payment_phee.payments.models import DuplicatePayment
from g2p_payment_phee.payments.states import BatchState, set_batch_state
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import CycleState
from g2p_payment_phee.users.models import User
from tests.integration.web.hub_findings import (
    hub_pays_twice,
    local_time,
    outcome_unknown,
    paid_cycle,
)
from tests.integration.web.pages.builders import PaidCycle, prepared_cycle

Run = Callable[..., str]


@pytest.fixture
def g2p(db_url: str, session: Session, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``g2p-phee --as WHO ARGS``; the output (and the error's line, as ``main`` prints it)
    once the exit code is the one expected."""
    monkeypatch.setenv("G2P_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, who: str = "admin", code: int = 0) -> str:
        session.commit()
        result = runner.invoke(app, ["--as", who, *args])
        error, output, exited = result.exception, result.output, result.exit_code
        if isinstance(error, G2PError):
            exited, output = exit_code_for(error), output + "\nerror: " + error.message
        elif error is not None and not isinstance(error, SystemExit):
            raise error
        assert exited == code, output
        return output

    return invoke


@pytest.fixture
def paid(session: Session, admin: User, approver: User) -> PaidCycle:
    """A cycle of 3 payments (batches of 2 and 1), all paid; the first one paid twice."""
    cycle = paid_cycle(session, admin, approver, size=3)
    hub_pays_twice(session, cycle)
    session.commit()
    return cycle


def test_status_exits_12_until_an_approver_acknowledges(
    paid: PaidCycle, g2p: Run, session: Session, manager: User, viewer: User
) -> None:
    twice = session.scalars(select(DuplicatePayment)).one()
    status = g2p("status", "C1", code=12)
    assert "PAID TWICE: PHEE reports 1 payments paid more than once" in status
    assert "(2 payments made, 100" in status
    assert "KES paid beyond the entitlements); 1 not acknowledged" in status
    assert str(twice.payment_id) in status
    for shown in ("PHEE-1", "PHEE-DUP", f"TX-{twice.payment_id}", "TX-DUP-0", "200.00 KES"):
        assert shown in status
    assert "│ NO" in status
    assert "acknowledge-paid-twice C1 --program 'Cash Transfer' --reason TEXT" in status

    refused = g2p("cycles", "distribute", "C1", code=9)
    assert "cycle 'C1': PAID TWICE" in refused
    assert "approver role must acknowledge them with a reason first" in refused
    for who in ("maker", "watcher"):
        denied = g2p("cycles", "acknowledge-paid-twice", "C1", "--reason", "ok", who=who, code=5)
        assert "may not approve" in denied
    assert "needs a reason" in g2p(
        "cycles", "acknowledge-paid-twice", "C1", "--reason", "  ", who="checker", code=9
    )

    done = g2p(
        "cycles", "acknowledge-paid-twice", "C1", "-p", "Cash Transfer",
        "--reason", "recovered from the payee", who="checker",
    )  # fmt: skip
    assert "acknowledged 1 payments paid more than once in cycle C1" in done
    status = g2p("status", "C1")  # still shown, no longer an error
    assert "1 payments paid more than once" in status
    assert "all acknowledged" in status
    assert ": recovered from the payee" in status
    assert "│ NO" not in status
    assert "all acknowledged" in g2p("status", "C1", who="watcher")  # viewers read it too
    again = g2p("cycles", "acknowledge-paid-twice", "C1", "--reason", "x", who="checker", code=9)
    assert "no payments paid twice to acknowledge" in again
    assert "is distributed" in g2p("cycles", "distribute", "C1", who="checker")
    session.expire_all()
    assert session.get_one(Cycle, paid.cycle.id).state is CycleState.DISTRIBUTED


def test_sync_reports_paid_twice_before_a_hub_it_could_not_read(
    paid: PaidCycle, g2p: Run, session: Session
) -> None:
    """The hub (nothing listens on its port) cannot be read for the one submitted batch: that
    alone exits 11; payments paid twice in the synced cycle are more serious and exit 12."""
    lone = paid.batches[1]
    set_batch_state(session, None, lone, BatchState.SENDING, claimed_by="test")
    set_batch_state(session, None, lone, BatchState.SUBMITTED)
    synced = g2p("sync", code=12)
    assert "1 batches synced" in synced
    assert "cycle C1 of Cash Transfer: PAID TWICE" in synced
    assert "PHEE-DUP" in synced
    assert "Also: 1 of 1 batches could not be synced" in synced
    g2p("cycles", "acknowledge-paid-twice", "C1", "--reason", "accepted")
    synced = g2p("sync", code=11)
    assert "all acknowledged" in synced
    assert "paid more than once" not in synced.split("error:")[1]


def test_sync_of_a_cycle_without_duplicates_prints_no_block(
    session: Session, admin: User, approver: User, g2p: Run
) -> None:
    paid_cycle(session, admin, approver, size=2)
    assert "paid more than once" not in g2p("sync", "C1")


def test_status_says_why_a_batch_waits_and_until_when(
    session: Session, admin: User, approver: User, g2p: Run
) -> None:
    cycle = prepared_cycle(session, admin, approver, size=3)
    recent, older = cycle.batches
    started = outcome_unknown(session, recent)
    outcome_unknown(session, older, attempt_started=utcnow() - timedelta(hours=1))
    status = g2p("status", "C1")
    assert "batches waiting" in status
    quiet = started + get_settings().unknown_outcome_quiet
    lines = {name: _line_of(status, name) for name in (recent.name, older.name)}
    assert "it is looked up, never resent, until" in lines[recent.name]
    assert local_time(quiet) in lines[recent.name]
    assert "looked up at PHEE by its correlation id at the next send" in lines[older.name]
    assert "paid more than once" not in status


def _line_of(output: str, name: str) -> str:
    """The table row that starts with ``name`` and the lines its cells wrapped onto."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if name in line)
    rows = [lines[start]]
    for line in lines[start + 1 :]:
        if line.startswith("│ ") and line.split("│")[1].strip():
            break  # the next row
        if not line.startswith("│"):
            break
        rows.append(line)
    return " ".join(cell.strip() for row in rows for cell in row.split("│")[3:])
