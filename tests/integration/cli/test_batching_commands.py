"""``batches create`` and ``payments cancel`` against the emulator over loopback: a cycle
prepared with Automatically Create Batch off is batched, one batch cancelled, the rest sent and
paid, the cancelled people prepared and paid again; what reached the hub cannot be cancelled."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.states import BatchState
from tests import factories
from tests.integration.cli import test_paying_commands as paying
from tests.integration.cli.test_paying_commands import Run, _row
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice

cli = paying.run  # the same ``g2p-phee --as admin`` fixture


def _approved(p: PheeProgram, count: int, **kw: Any) -> Any:
    cycle = factories.approved_cycle(
        p.session, p.admin, p.approver, p.program, beneficiaries=count, **kw
    )
    p.session.commit()
    return cycle


def test_unbatched_payments_are_batched_cancelled_sent_and_paid(
    phee_program: PheeProgram, cli: Run
) -> None:
    p, emulator, run = phee_program, phee_program.hub, cli
    p.configure(create_batch=False, max_batch_size=2)
    cycle = _approved(p, 5)
    prepared = run("prepare", cycle.name)
    assert _row(prepared, "payments created") == ["5"]
    assert _row(prepared, "batches") == ["0"]
    assert f"5 issued payments wait for a batch: `g2p-phee batches create {cycle.name}`" in run(
        "status", cycle.name
    )
    assert "0 submitted" in run("send", cycle.name)  # nothing is sent from outside a batch

    made = run("batches", "create", cycle.name)
    assert _row(made, "payments batched") == ["5"]
    assert _row(made, "batches made") == ["3"]
    refused = run("batches", "create", cycle.name, code=9)
    assert "has no payment waiting for a batch" in refused

    first, second, third = p.batches(cycle)
    cancelled = run(
        "payments", "cancel", cycle.name, "--batch", first.name, "--reason", "wrong list"
    )
    assert "cancelled 2 payments (200.00 KES)" in cancelled
    assert f"batch {first.name} cancelled" in cancelled
    assert "2 submitted" in run("send", cycle.name)
    emulator.complete_all()
    assert "2 batches synced: 3 paid, 0 failed, 2 batches complete" in run("sync", cycle.name)

    refused = run("payments", "cancel", cycle.name, "--batch", second.name, "--reason", "x", code=9)
    assert "cannot be cancelled: the hub processed it" in refused
    # the two people of the cancelled batch are payable again
    assert _row(run("prepare", cycle.name), "payments created") == ["2"]
    assert _row(run("batches", "create", cycle.name, "--max-size", "5"), "batches made") == ["1"]
    assert "1 submitted" in run("send", cycle.name)
    emulator.complete_all()
    run("sync", cycle.name)
    assert _row(run("status", cycle.name), "payments paid") == ["5", "500.00 KES"]
    assert [b.state for b in p.batches(cycle)] == [
        BatchState.CANCELLED,
        BatchState.COMPLETED,
        BatchState.COMPLETED,
        BatchState.COMPLETED,
    ]
    assert "is distributed" in run("cycles", "distribute", cycle.name)
    assert "is ended" in run("cycles", "end", cycle.name)
    assert_nobody_paid_twice(emulator)
    assert third.name != first.name


def test_cancelling_one_payment_and_bad_input(phee_program: PheeProgram, cli: Run) -> None:
    p, run = phee_program, cli
    p.configure(create_batch=False)
    cycle = _approved(p, 2)
    run("prepare", cycle.name)
    assert "Invalid value for '--max-size'" in run(
        "batches", "create", cycle.name, "--max-size", "0", code=2
    )
    assert "needs a reason" in run("payments", "cancel", cycle.name, "--reason", " ", code=6)
    assert "is not a payment id" in run(
        "payments", "cancel", cycle.name, "--payment", "nope", "--reason", "x", code=6
    )
    p.session.expire_all()
    one = p.session.scalars(select(Payment.id).where(Payment.cycle_id == cycle.id)).first()
    out = run("payments", "cancel", cycle.name, "--payment", str(one), "--reason", "died")
    assert "cancelled 1 payments (100.00 KES)" in out
    again = run("payments", "cancel", cycle.name, "--payment", str(one), "--reason", "x", code=9)
    assert "is cancelled: only issued payments" in again
