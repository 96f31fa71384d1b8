"""PHEE's answers exist only in the sending process until they are recorded: a database lost
while recording them is tried again, so the batches do not wait in ``sending`` for the stale-claim
lookup; a record that committed although its connection broke is recognised by the next try."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from g2p_payment_phee.audit import events_for
from g2p_payment_phee.db import make_engine
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.reports import BatchSendResult
from g2p_payment_phee.payments.states import BatchState, PaymentState
from g2p_payment_phee.phee import send
from g2p_payment_phee.phee.send_leases import DatabaseThread
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])  # a server whose connection can be cut
def test_a_connection_cut_while_recording_is_tried_again(
    phee_program: PheeProgram, engine: Engine, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    p = phee_program
    p.configure(max_batch_size=2)
    cycle = p.prepared_cycle(4)
    admin = make_engine(db_url, isolation_level="AUTOCOMMIT")
    cut: list[int] = []

    def cut_once(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The record's payments → sent: its transaction has already moved batches and written
        # audit rows, all of which must go with the connection and be written again.
        if cut or "UPDATE payments SET state" not in statement:
            return
        pid = conn.connection.driver_connection.info.backend_pid
        with admin.connect() as other:  # returns once the server process has ended
            assert other.scalar(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})
        cut.append(pid)

    event.listen(engine, "before_cursor_execute", cut_once)
    try:
        with caplog.at_level(logging.WARNING, logger=send.log.name):
            report = service.send_cycle(p.factory, p.admin, cycle.id)
    finally:
        event.remove(engine, "before_cursor_execute", cut_once)
        admin.dispose()

    assert len(cut) == 1
    assert [r.outcome for r in report.results] == ["submitted", "submitted"]
    warned = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert len(warned) == 1
    assert "recording PHEE's answers for 2 batches failed (AdminShutdown" in warned[0]
    batches = p.batches(cycle)
    assert {b.state for b in batches} == {BatchState.SUBMITTED}
    assert [b.phee_batch_id for b in batches] == [r.phee_batch_id for r in report.results]
    assert [(b.sent_count, b.send_attempts) for b in batches] == [(2, 1), (2, 1)]
    assert {pay.state for b in batches for pay in p.payments(b)} == {PaymentState.SENT}
    for batch in batches:  # one claim and one submission each: the cut try left nothing
        actions = [e.action for e in events_for(p.session, batch)]
        assert actions.count("batch.submitted") == 1, actions
    seen = assert_nobody_paid_twice(p.hub)
    assert len(seen["request_ids"]) == 4


def test_an_answer_recorded_twice_is_reported_as_recorded(phee_program: PheeProgram) -> None:
    p = phee_program
    cycle = p.prepared_cycle(2)
    (batch,) = p.batches(cycle)
    steps = send._claim_chunk(p.factory, p.admin, [batch.id])
    with p.client() as hub, DatabaseThread(p.factory, p.admin) as db:
        done = [send._attempt(hub, p.manager(), steps[0], send._Arming(db, steps))]
    first = send._record_chunk(p.factory, p.admin, done)
    # As if the first record's commit reached the database but its answer never came back.
    again = send._record_chunk(p.factory, p.admin, done)
    assert first == again
    (result,) = again
    assert isinstance(result, BatchSendResult)
    assert result.outcome == "submitted"
    (batch,) = p.batches(cycle)
    assert (batch.state, batch.phee_batch_id) == (BatchState.SUBMITTED, result.phee_batch_id)
    assert (batch.sent_count, batch.send_attempts) == (2, 1)
    assert [e.action for e in events_for(p.session, batch)].count("batch.submitted") == 1
