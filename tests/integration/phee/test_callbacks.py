"""PHEE's batch callback (SPEC 5.5) end to end: the emulator calls the URL we gave it, with the
batch's token in it; a verified callback asks for a sync of its batch; forged, mismatched,
malformed and repeated callbacks are ignored and change nothing; a replay records nothing."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, update

from g2p_payment_phee.audit import AuditEvent
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState, PaymentState, PaymentStatus
from g2p_payment_phee.phee.callbacks import (
    REPLAY,
    CallbackVerdict,
    callback_token,
    callback_token_hash,
    receive_callback,
)
from g2p_payment_phee.phee.sync import sync_batches
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.security import hash_token
from tests.integration.phee.conftest import PheeProgram, assert_nobody_paid_twice

CALLBACK_PATH = "/g2p/api/v1"  # the emulator answers 404 there; it records every attempt


def sent_cycle(p: PheeProgram, beneficiaries: int, per_batch: int) -> Cycle:
    p.configure(max_batch_size=per_batch, callback_base_url=p.hub.base_url + CALLBACK_PATH)
    cycle = p.prepared_cycle(beneficiaries)
    p.hub.set_outcomes({"delay_seconds": 60})
    report = service.send_cycle(p.factory, p.admin, cycle.id)
    assert {r.outcome for r in report.results} == {"submitted"}
    return cycle


def receive(p: PheeProgram, token: str, body: Any) -> CallbackVerdict:
    """What the web route does: verify and record in one transaction, then commit."""
    verdict = receive_callback(p.session, token, json.dumps(body).encode())
    p.session.commit()
    return verdict


def callback_events(p: PheeProgram) -> int:
    p.session.expire_all()
    query = select(func.count()).where(AuditEvent.action == "batch.callback")
    return int(p.session.scalar(query) or 0)


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[-1]


@contextmanager
def statements(p: PheeProgram, verb: str, part: str) -> Iterator[list[tuple[str, Any]]]:
    """(statement, parameters) of what the database is asked inside the block: the statements
    that start with ``verb`` and hold ``part`` (spaces ignored)."""
    engine = p.session.get_bind()
    seen: list[tuple[str, Any]] = []

    def remember(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if statement.lstrip().upper().startswith(verb) and part in statement.replace(" ", ""):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", remember)


def test_the_callback_url_carries_the_batch_token_and_a_verified_callback_syncs(
    phee_program: PheeProgram,
) -> None:
    p, hub = phee_program, phee_program.hub
    hub.set_faults({"duplicate_callbacks": 1})
    cycle = sent_cycle(p, 3, 2)
    batches = p.batches(cycle)
    for batch in batches:
        assert batch.callback_token_hash == hash_token(callback_token(batch.id))
        assert callback_token(batch.id) not in str(batch.last_response)

    hub.complete_all()
    attempts = hub.wait_for_callbacks(4)  # one callback and one duplicate per batch
    by_batch = {b.phee_batch_id: b for b in batches}
    assert {a["batch_id"] for a in attempts} == set(by_batch)
    for attempt in attempts:
        batch = by_batch[attempt["batch_id"]]
        prefix = f"{hub.base_url}{CALLBACK_PATH}/phee/callback/"
        assert attempt["url"] == prefix + callback_token(batch.id)
        assert hash_token(token_of(attempt["url"])) == batch.callback_token_hash
        assert attempt["body"]["clientCorrelationId"] == batch.correlation_id
        assert attempt["body"]["batchId"] == batch.phee_batch_id

    first, repeat = [a for a in attempts if a["batch_id"] == batches[0].phee_batch_id]
    verdict = receive(p, token_of(first["url"]), first["body"])
    assert verdict == CallbackVerdict(True, "sync requested", batches[0].id)
    synced = sync_batches(p.factory, None, p.manager(), [batches[0].id])  # as the system
    assert synced.results[0].completed
    before = [(pay.id, pay.state, pay.status, pay.settled_at) for pay in p.payments(batches[0])]

    again = receive(p, token_of(repeat["url"]), repeat["body"])
    assert again == CallbackVerdict(True, REPLAY)  # the batch is final, and the body seen
    assert [
        (pay.id, pay.state, pay.status, pay.settled_at) for pay in p.payments(batches[0])
    ] == before

    # The other batch's callback and its duplicate arrive before any sync: the duplicate is a
    # replay (same body) and asks for nothing; a second sync finds nothing to change.
    first, repeat = [a for a in attempts if a["batch_id"] == batches[1].phee_batch_id]
    assert repeat["body"] == first["body"]
    assert receive(p, token_of(first["url"]), first["body"]).batch_id == batches[1].id
    assert receive(p, token_of(repeat["url"]), repeat["body"]) == CallbackVerdict(True, REPLAY)
    assert callback_events(p) == 2
    assert sync_batches(p.factory, None, p.manager(), [batches[1].id]).reconciled == 1
    rows = [(pay.id, pay.state, pay.status, pay.settled_at) for pay in p.payments(batches[1])]
    second = sync_batches(p.factory, None, p.manager(), [batches[1].id])
    assert second.results == []  # completed: nothing to read
    assert [
        (pay.id, pay.state, pay.status, pay.settled_at) for pay in p.payments(batches[1])
    ] == rows

    for batch in p.batches(cycle):
        assert batch.state is BatchState.COMPLETED
        for payment in p.payments(batch):
            assert (payment.status, payment.amount_paid) == (PaymentStatus.PAID, Decimal(100))
    assert_nobody_paid_twice(hub)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "malformed token"),
        ("x" * 500, "malformed token"),
        ("forged-" + "a" * 36, "unknown token"),
        ("random", "unknown token"),
    ],
    ids=["empty", "too-long", "forged", "guessed"],
)
def test_a_callback_with_a_token_we_did_not_issue_is_ignored(
    phee_program: PheeProgram, token: str, reason: str
) -> None:
    p = phee_program
    cycle = sent_cycle(p, 1, 1)
    [batch] = p.batches(cycle)
    token = secrets.token_urlsafe(32) if token == "random" else token
    body = {"clientCorrelationId": batch.correlation_id, "batchId": batch.phee_batch_id}

    assert receive(p, token, body) == CallbackVerdict(False, reason)
    assert callback_events(p) == 0
    assert p.batches(cycle)[0].state is BatchState.SUBMITTED


def test_a_token_used_for_another_batch_is_ignored_and_a_bad_body_only_asks_for_a_sync(
    phee_program: PheeProgram,
) -> None:
    p = phee_program
    cycle = sent_cycle(p, 2, 1)
    mine, other = p.batches(cycle)
    token = callback_token(mine.id)

    wrong_batch = {"clientCorrelationId": other.correlation_id, "batchId": other.phee_batch_id}
    assert receive(p, token, wrong_batch) == CallbackVerdict(False, "batch id does not match")
    assert callback_events(p) == 0

    bodies: list[Any] = [None, ["a", "list"], "text", {}]
    for body in bodies:  # the token is what proves the sender, not the body
        assert receive(p, token, body) == CallbackVerdict(True, "sync requested", mine.id)
    assert callback_events(p) == 4
    assert {b.state for b in p.batches(cycle)} == {BatchState.SUBMITTED}
    for batch in p.batches(cycle):
        assert {pay.state for pay in p.payments(batch)} == {PaymentState.SENT}


def test_a_callback_for_a_batch_whose_answer_was_lost_syncs_nothing_yet(
    phee_program: PheeProgram,
) -> None:
    """The upload was stored but its answer lost: PHEE may call back before we know the batch
    id. The token still verifies; nothing is synced until a lookup resolved the batch."""
    p, hub = phee_program, phee_program.hub
    p.configure(callback_base_url=hub.base_url + CALLBACK_PATH)
    cycle = p.prepared_cycle(2)
    hub.set_faults({"rules": [{"kind": "drop", "endpoints": ["upload"], "times": 1}]})
    service.send_cycle(p.factory, p.admin, cycle.id)
    [batch] = p.batches(cycle)
    assert batch.state is BatchState.OUTCOME_UNKNOWN

    [attempt] = hub.wait_for_callbacks(1)  # delay 0: PHEE finished at once
    verdict = receive(p, token_of(attempt["url"]), attempt["body"])
    assert verdict == CallbackVerdict(True, "batch is outcome_unknown: nothing to sync")
    assert p.batches(cycle)[0].state is BatchState.OUTCOME_UNKNOWN

    report = service.send_cycle(p.factory, p.admin, cycle.id)
    assert report.results[0].outcome == "found_at_phee"
    service.sync_cycle(p.factory, p.admin, cycle.id)
    [batch] = p.batches(cycle)
    assert batch.state is BatchState.COMPLETED
    assert batch.phee_batch_id == attempt["body"]["batchId"]
    assert_nobody_paid_twice(hub)


def test_callback_tokens_differ_per_batch_and_stay_across_attempts(
    phee_program: PheeProgram,
) -> None:
    p, hub = phee_program, phee_program.hub
    p.configure(max_batch_size=1, callback_base_url=hub.base_url + CALLBACK_PATH)
    cycle = p.prepared_cycle(2)
    hub.set_faults({"rules": [{"kind": "error_5xx", "endpoints": ["upload"], "times": 1}]})
    service.send_cycle(p.factory, p.admin, cycle.id)
    first_hashes = [b.callback_token_hash for b in p.batches(cycle)]
    service.send_cycle(p.factory, p.admin, cycle.id)  # the first batch is resent

    batches = p.batches(cycle)
    assert [b.send_attempts for b in batches] == [2, 1]
    assert [b.callback_token_hash for b in batches] == first_hashes
    assert first_hashes[0] != first_hashes[1]
    assert all(len(h or "") == 64 for h in first_hashes)
    stored = p.session.scalars(select(PaymentBatch.callback_token_hash)).all()
    assert not any(callback_token(b.id) in stored for b in batches)  # only hashes are kept


def test_a_callback_finds_its_batch_through_the_token_index(phee_program: PheeProgram) -> None:
    """The lookup by token hash reads the unique index (migration 0007), not every batch ever
    sent: the statement receive_callback runs, explained by the database itself."""
    p = phee_program
    batch = p.batches(sent_cycle(p, 3, 2))[0]
    with statements(p, "SELECT", "callback_token_hash=") as lookups:
        verdict = receive(p, callback_token(batch.id), {"batchId": batch.phee_batch_id})
    assert verdict.batch_id == batch.id
    [(statement, parameters)] = lookups
    engine = p.session.get_bind()
    assert isinstance(engine, Engine)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # a few rows: force the choice
            plan = conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
        else:
            plan = [
                row[-1]
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            ]
        conn.rollback()
    assert any("uq_payment_batches_callback_token" in line for line in plan), plan


def test_prepare_stores_each_batch_callback_hash_so_the_send_writes_none(
    phee_program: PheeProgram,
) -> None:
    p = phee_program
    p.configure(max_batch_size=2, callback_base_url=p.hub.base_url + CALLBACK_PATH)
    cycle = p.prepared_cycle(3)
    prepared = {b.id: b.callback_token_hash for b in p.batches(cycle)}
    assert prepared == {bid: callback_token_hash(bid) for bid in prepared}

    with statements(p, "UPDATE", "callback_token_hash=") as writes:
        service.send_cycle(p.factory, p.admin, cycle.id)

    assert writes == []
    batches = p.batches(cycle)
    assert {b.id: b.callback_token_hash for b in batches} == prepared
    assert {b.state for b in batches} == {BatchState.SUBMITTED}
    assert receive(p, callback_token(batches[0].id), {}).batch_id == batches[0].id


def test_a_batch_prepared_without_a_callback_hash_gets_it_when_claimed(
    phee_program: PheeProgram,
) -> None:
    """Batches prepared before prepare stored hashes: the claim writes the missing ones."""
    p = phee_program
    p.configure(max_batch_size=2, callback_base_url=p.hub.base_url + CALLBACK_PATH)
    cycle = p.prepared_cycle(3)
    first, second = p.batches(cycle)
    p.session.execute(
        update(PaymentBatch).where(PaymentBatch.id == first.id).values(callback_token_hash=None)
    )
    p.session.commit()

    with statements(p, "UPDATE", "callback_token_hash=") as writes:
        service.send_cycle(p.factory, p.admin, cycle.id)

    assert len(writes) == 1
    batches = p.batches(cycle)
    assert [b.callback_token_hash for b in batches] == [
        callback_token_hash(first.id),
        callback_token_hash(second.id),
    ]
    verdict = receive(p, callback_token(first.id), {"batchId": batches[0].phee_batch_id})
    assert verdict == CallbackVerdict(True, "sync requested", first.id)
