"""A cycle paid from the command line against the emulator over loopback (issue 5 item 7):
``send``, ``sync``, ``status``, ``retry-failed``, ``send --batch`` and ``cycles distribute``, with
a payee failing, a batch refused and a hub that cannot be read — and exit codes scripts can trust
(11: the hub refused or did not answer part of the work, the rest was done); overdue payments
named by ``status`` and ``sync``."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import G2PError, exit_code_for
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import CycleState
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice
from tests.integration.phee.test_overdue import accepted_ago, sent_cycle

Run = Callable[..., str]
CLOSED = "254700000001"  # the second registrant's phone (as the CSV has it): fails at first


@pytest.fixture
def run(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``g2p-phee --as admin ARGS``; the output, once the exit code is the one expected."""
    monkeypatch.setenv("G2P_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["--as", "admin", *args])
        error, output, exited = result.exception, result.output, result.exit_code
        if isinstance(error, G2PError):  # as ``main`` does: its exit code and its one line
            exited, output = exit_code_for(error), output + error.message
        elif error is not None and not isinstance(error, SystemExit):
            raise error
        assert exited == code, output
        return output

    return invoke


def _row(output: str, label: str) -> list[str]:
    """The cells after ``label`` in a printed table."""
    for line in output.splitlines():
        if label in line:
            return [c.strip() for c in re.split(r"[│|]", line.split(label, 1)[1]) if c.strip()]
    raise AssertionError(f"no row {label!r} in:\n{output}")


def test_a_cycle_paid_from_the_command_line(phee_program: PheeProgram, run: Run) -> None:
    p, emulator = phee_program, phee_program.hub
    p.configure(max_batch_size=2)
    emulator.set_outcomes(
        {"failing_payees": {CLOSED: "Payee account closed"}, "delay_seconds": 600}
    )
    cycle = p.prepared_cycle(5)

    sent = run("send", cycle.name)
    assert "3 submitted, 0 found_at_phee, 0 rejected, 0 outcome_unknown, 0 skipped" in sent
    status = run("status", cycle.name)
    assert _row(status, "batches submitted") == ["3"]
    assert _row(status, "payments sent") == ["5", "500.00 KES"]

    assert "3 batches synced: 0 paid, 0 failed, 0 batches complete" in run("sync", cycle.name)
    emulator.complete_all()
    assert "3 batches synced: 4 paid, 1 failed, 3 batches complete" in run("sync", cycle.name)
    status = run("status", cycle.name)
    assert _row(status, "batches completed") == ["3"]
    assert _row(status, "payments paid") == ["4", "400.00 KES"]
    assert _row(status, "payments failed") == ["1", "100.00 KES"]
    # Not every payment is paid, but every one is final: the cycle could be closed now; the
    # failed one is retried first, in a new batch sent on its own.
    emulator.set_outcomes({})
    assert _row(run("retry-failed", cycle.name), "payments created") == ["1"]
    p.session.expire_all()
    retry = p.session.scalars(
        select(PaymentBatch).where(PaymentBatch.state == BatchState.PREPARED)
    ).one()
    assert "1 submitted" in run("send", "--batch", retry.name)
    emulator.complete_all()
    assert "1 batches synced: 1 paid, 0 failed, 1 batches complete" in run("sync")
    status = run("status", cycle.name)
    assert _row(status, "payments paid") == ["5", "500.00 KES"]
    assert _row(status, "payments failed") == ["1", "100.00 KES"]
    assert "is distributed" in run("cycles", "distribute", cycle.name)
    p.session.expire_all()
    assert p.session.get_one(Cycle, cycle.id).state is CycleState.DISTRIBUTED
    assert "is ended" in run("cycles", "end", cycle.name)
    p.session.expire_all()
    assert p.session.get_one(Cycle, cycle.id).state is CycleState.ENDED
    assert "a final state" in run("cycles", "end", cycle.name, code=7)
    assert_nobody_paid_twice(emulator)


def test_an_approved_cycle_ends_only_with_nothing_left_to_pay(
    phee_program: PheeProgram, run: Run
) -> None:
    p = phee_program
    cycle = p.prepared_cycle(2)
    refused = run("cycles", "end", cycle.name, code=9)
    assert "still has 2 open payments and 0 entitlements to pay" in refused
    p.session.expire_all()
    assert p.session.get_one(Cycle, cycle.id).state is CycleState.APPROVED


def test_a_refused_batch_exits_11_and_goes_through_once_fixed(
    phee_program: PheeProgram, run: Run
) -> None:
    p = phee_program
    p.configure(tenant_id="atlantis", auth_endpoint_url=None)  # no process for it: 412
    cycle = p.prepared_cycle(2)
    refused = run("send", cycle.name, code=11)
    assert "0 submitted, 0 found_at_phee, 1 rejected" in refused
    assert "412" in refused
    assert "1 of 1 batches did not go through" in refused
    p.configure(tenant_id="gorilla")
    assert "1 submitted" in run("send", cycle.name)
    (batch,) = p.batches(cycle)
    again = run("send", "--batch", batch.name)  # submitted already: skipped, and it says why
    assert "0 submitted, 0 found_at_phee, 0 rejected, 0 outcome_unknown, 1 skipped" in again
    assert "batch is submitted: nothing to send" in again
    assert_nobody_paid_twice(p.hub)


def test_a_sync_that_cannot_read_the_hub_exits_11(phee_program: PheeProgram, run: Run) -> None:
    p = phee_program
    cycle = p.prepared_cycle(2)
    assert "1 submitted" in run("send", cycle.name)
    p.hub.set_faults({"rules": [{"kind": "error_5xx", "endpoints": ["status"]}]})
    unread = run("sync", cycle.name, code=11)
    assert "1 of 1 batches could not be synced" in unread
    assert "503" in unread
    p.hub.clear_faults()
    p.hub.complete_all()
    assert "1 batches synced: 2 paid, 0 failed, 1 batches complete" in run("sync", cycle.name)


def test_send_needs_a_cycle_or_a_batch_but_not_both(phee_program: PheeProgram, run: Run) -> None:
    cycle = phee_program.prepared_cycle(2)
    (batch,) = phee_program.batches(cycle)
    assert "give a CYCLE or --batch BATCH" in run("send", code=2)
    assert "give a CYCLE or --batch BATCH" in run("send", cycle.name, "--batch", batch.name, code=2)


def test_status_and_sync_name_the_overdue_batches(
    phee_program: PheeProgram, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = phee_program
    cycle = sent_cycle(p, 3)
    old, recent = p.batches(cycle)
    status = run("status", cycle.name)
    assert _row(status, "payments overdue (sent > 48 h ago)") == ["0"]
    assert "were sent more than" not in status
    accepted_ago(p, old, 50)
    status = run("status", cycle.name)
    assert _row(status, "payments overdue (sent > 48 h ago)") == ["2"]
    assert "2 payments in 1 batch were sent more than 48 h ago" in status
    assert old.name in status
    assert str(old.phee_batch_id) in status
    assert recent.name not in status
    synced = run("sync", cycle.name)
    assert "0 paid, 0 failed" in synced
    assert "2 payments in 1 batch were sent more than 48 h ago" in synced
    assert old.name in synced

    monkeypatch.setenv("G2P_OVERDUE_AFTER_HOURS", "72")
    get_settings.cache_clear()
    assert "were sent more than" not in run("status", cycle.name)


def test_only_an_admin_tests_the_hub_connection_and_it_is_audited(
    phee_program: PheeProgram, run: Run
) -> None:
    """The command once checked no role: anyone reached the hub with the stored secrets."""
    from g2p_payment_phee.audit import AuditEvent

    p = phee_program
    assert "token" in run("managers", "test-connection", p.program.name).lower()
    refused = CliRunner().invoke(
        app, ["--as", p.approver.username, "managers", "test-connection", p.program.name]
    )
    assert isinstance(refused.exception, G2PError)
    assert exit_code_for(refused.exception) == 5
    p.session.expire_all()
    tested = p.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "manager.connection_tested")
    ).all()
    assert [event.data["ok"] for event in tested] == [True]
