"""The callback outbox and its delivery (issue 23 item 4), against the MIS stand-in over loopback.

What must hold: each change of a record's status is told once (written to the outbox in the
transaction that marks it told), a callback is delivered with a bearer token from the sender's
own token endpoint, a refusal is retried after a backoff (driven by an explicit clock, never by
sleeping), a transaction's callbacks arrive in order, and a callback written by a process that
died is delivered once by the next one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import make_engine, make_session_factory, unit_of_work, utcnow
from g2p_payment_phee.g2p_connect.callback_tasks import deliver_due, sweep_callbacks
from g2p_payment_phee.g2p_connect.callbacks import CALLBACK_SCOPE
from g2p_payment_phee.g2p_connect.mis import MisStandIn
from g2p_payment_phee.g2p_connect.models import (
    G2PConnectRecord,
    G2PConnectSender,
    G2PConnectTransaction,
    ReceiptStatus,
)
from g2p_payment_phee.g2p_connect.outbox import (
    LEASE,
    MAX_ATTEMPTS,
    backoff,
    claim_due,
    write_callbacks,
)
from g2p_payment_phee.g2p_connect.outbox_models import CallbackState, G2PConnectCallback
from g2p_payment_phee.g2p_connect.status import RecordStatus, record_statuses
from g2p_payment_phee.security import encrypt_secret, hash_token
from g2p_payment_phee.users.models import User
from tests import factories

QUICK = httpx.Timeout(2.0, connect=1.0)


@pytest.fixture
def mis() -> Iterator[MisStandIn]:
    with MisStandIn(client_id="phee-at-mis", client_secret="s3cret-of-the-mis") as stand_in:
        yield stand_in


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=QUICK) as client:
        yield client


@dataclass
class World:
    """A sender with one transaction of records, and the handles to change them."""

    factory: sessionmaker[Session]
    sender_id: uuid.UUID
    txn_id: uuid.UUID

    def callbacks(self) -> list[G2PConnectCallback]:
        with self.factory() as session:
            query = select(G2PConnectCallback).order_by(G2PConnectCallback.sequence)
            return list(session.scalars(query))

    def reject(self, reference_id: str, message: str = "changed") -> None:
        """Make one accepted record rejected (its status changes to rjct)."""
        with unit_of_work(self.factory) as session:
            session.execute(
                update(G2PConnectRecord)
                .where(G2PConnectRecord.reference_id == reference_id)
                .values(
                    receipt_status=ReceiptStatus.REJECTED,
                    reason_code="rjct.payee_fa.invalid",
                    reason_message=message,
                )
            )

    def told(self) -> dict[str, str | None]:
        with self.factory() as session:
            query = select(G2PConnectRecord.reference_id, G2PConnectRecord.notified_status)
            return dict(session.execute(query).tuples().all())


def make_world(
    session: Session,
    factory: sessionmaker[Session],
    admin: User,
    mis: MisStandIn,
    *,
    records: int = 3,
    with_token: bool = True,
) -> World:
    """A sender whose callbacks go to the stand-in (with its token endpoint), and one
    transaction of ``records`` accepted records (not yet in any cycle: ``rcvd``) plus one
    rejected at receipt."""
    program = factories.program(session, admin)
    sender = G2PConnectSender(
        sender_id="mis-test",
        program_id=program.id,
        client_secret_hash=hash_token("unused"),
        callback_url=mis.callback_url,
        token_url=mis.token_url if with_token else None,
        token_client_id=mis.client_id if with_token else None,
        token_client_secret_encrypted=(
            encrypt_secret(get_settings().secret(), mis.client_secret) if with_token else None
        ),
    )
    session.add(sender)
    session.flush()
    txn = G2PConnectTransaction(
        sender_id=sender.id, transaction_id="T-1", version="1.0.0", wants_callback=True
    )
    session.add(txn)
    session.flush()
    for row in range(records + 1):
        rejected = row == records
        session.add(
            G2PConnectRecord(
                sender_id=sender.id,
                txn_id=txn.id,
                row=row,
                reference_id=f"R-{row}",
                payee_fa=f"mobile:+25471200000{row}@mpesa",
                amount="1500.00",
                currency_code="KES",
                receipt_status=ReceiptStatus.REJECTED if rejected else ReceiptStatus.RECEIVED,
                reason_code="rjct.amount.invalid" if rejected else None,
                reason_message="amount must have two decimals" if rejected else None,
            )
        )
    session.commit()
    return World(factory, sender.id, txn.id)


@pytest.fixture
def world(
    session: Session, session_factory: sessionmaker[Session], admin: User, mis: MisStandIn
) -> World:
    return make_world(session, session_factory, admin, mis)


def later(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


# --- writing: each change told once -----------------------------------------------------------


def test_changes_are_written_once_with_the_transactions_counts(world: World) -> None:
    assert write_callbacks(world.factory) == 1
    assert write_callbacks(world.factory) == 0  # nothing changed since: nothing owed

    [callback] = world.callbacks()
    header, message = callback.body["header"], callback.body["message"]
    assert header["action"] == "on-disburse"
    assert header["status"] == "pdng"  # three records still open
    assert (header["total_count"], header["completed_count"]) == (4, 1)
    assert header["receiver_id"] == "mis-test"
    assert header["message_id"] == callback.message_id
    assert message["transaction_id"] == "T-1"
    statuses = {item["reference_id"]: item for item in message["disbursements_status"]}
    assert {ref: item["status"] for ref, item in statuses.items()} == {
        "R-0": "rcvd",
        "R-1": "rcvd",
        "R-2": "rcvd",
        "R-3": "rjct",
    }
    assert statuses["R-3"]["status_reason_code"] == "rjct.amount.invalid"
    assert world.told() == {"R-0": "rcvd", "R-1": "rcvd", "R-2": "rcvd", "R-3": "rjct"}


def test_a_later_callback_carries_only_the_records_that_changed(world: World) -> None:
    write_callbacks(world.factory)
    world.reject("R-1", "Payee Identifier not found")

    assert write_callbacks(world.factory) == 1
    first, second = world.callbacks()
    assert (first.sequence, second.sequence) == (1, 2)
    [item] = second.body["message"]["disbursements_status"]
    assert (item["reference_id"], item["status"]) == ("R-1", "rjct")
    assert second.body["header"]["completed_count"] == 2
    assert world.told()["R-1"] == "rjct"


def test_counts_include_the_records_told_final_before(world: World) -> None:
    """Records told final are not looked at again, yet the header still counts them."""
    world.reject("R-0")
    world.reject("R-1")
    write_callbacks(world.factory)
    world.reject("R-2")  # the last open record: only it is read again
    assert write_callbacks(world.factory) == 1
    last = world.callbacks()[-1]
    header = last.body["header"]
    assert (header["status"], header["total_count"], header["completed_count"]) == (
        "succ",
        4,
        4,
    )
    assert [i["reference_id"] for i in last.body["message"]["disbursements_status"]] == ["R-2"]


def test_the_header_says_succ_once_every_record_is_final(world: World) -> None:
    for reference in ("R-0", "R-1", "R-2"):
        world.reject(reference)
    write_callbacks(world.factory)
    [callback] = world.callbacks()
    assert callback.body["header"]["status"] == "succ"
    assert callback.body["header"]["completed_count"] == 4
    # every record is told final: the transaction is not even looked at again
    world.reject("R-0", "another reason")
    assert write_callbacks(world.factory) == 0


def test_a_failed_write_tells_nothing_and_writes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The callback and the marks are one database transaction: a crash between them (here,
    marking fails) leaves neither behind, and the next sweep writes the change."""
    from g2p_payment_phee.g2p_connect import outbox

    def crash(*_: object) -> None:
        raise RuntimeError("the process dies here")

    monkeypatch.setattr(outbox, "_mark_told", crash)
    assert write_callbacks(world.factory) == 0
    assert "its callbacks could not be written" in caplog.text
    assert world.callbacks() == []
    assert set(world.told().values()) == {None}
    monkeypatch.undo()
    assert write_callbacks(world.factory) == 1


def test_one_transactions_failure_does_not_hold_back_the_others(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from g2p_payment_phee.g2p_connect import outbox

    with unit_of_work(world.factory) as session:
        other = G2PConnectTransaction(
            sender_id=world.sender_id, transaction_id="T-2", version="1.0.0"
        )
        session.add(other)
        session.flush()
        session.add(
            G2PConnectRecord(
                sender_id=world.sender_id,
                txn_id=other.id,
                row=0,
                reference_id="R2-0",
                payee_fa="mobile:+254712999999@mpesa",
                amount="10.00",
                receipt_status=ReceiptStatus.RECEIVED,
            )
        )

    def broken_for_the_first(session: Session, txn_id: uuid.UUID) -> list[RecordStatus]:
        if txn_id == world.txn_id:
            raise RuntimeError("a bug in one transaction's data")
        return record_statuses(session, txn_id)

    monkeypatch.setattr(outbox, "record_statuses", broken_for_the_first)
    assert write_callbacks(world.factory) == 1
    [callback] = world.callbacks()
    assert callback.body["message"]["transaction_id"] == "T-2"


def test_a_transaction_answered_synchronously_gets_no_callback(world: World) -> None:
    with unit_of_work(world.factory) as session:
        txn = session.get(G2PConnectTransaction, world.txn_id)
        assert txn is not None
        txn.wants_callback = False
    assert write_callbacks(world.factory) == 0


# --- delivery ---------------------------------------------------------------------------------


def test_delivered_with_a_bearer_token_from_the_senders_token_endpoint(
    world: World, mis: MisStandIn, http: httpx.Client
) -> None:
    counts = sweep_callbacks(world.factory, http=http)
    assert counts == {
        "g2p_callbacks_written": 1,
        "g2p_callbacks_delivered": 1,
        "g2p_callbacks_retrying": 0,
    }
    [received] = mis.callbacks
    assert received.authorized  # a token the MIS issued, for the right client
    assert received.answer == "ACK"
    assert mis.counts() == {"rcvd": 3, "rjct": 1}
    [callback] = world.callbacks()
    assert callback.state is CallbackState.DELIVERED
    assert callback.attempts == 1
    assert callback.delivered_at is not None
    assert received.message_id == callback.message_id


def test_the_token_is_asked_for_the_on_disburse_scope(
    world: World, mis: MisStandIn, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    scopes: list[str] = []
    issue = mis.issue_token

    def spy(client_id: str, client_secret: str, scope: str) -> str | None:
        scopes.append(scope)
        return issue(client_id, client_secret, scope)

    monkeypatch.setattr(mis, "issue_token", spy)
    sweep_callbacks(world.factory, http=http)
    assert scopes == [CALLBACK_SCOPE]


def test_a_refused_token_is_fetched_afresh_and_the_callback_sent_again(
    world: World, mis: MisStandIn, http: httpx.Client
) -> None:
    mis.script(["401"])  # as if the token had expired at the MIS
    counts = sweep_callbacks(world.factory, http=http)
    assert counts["g2p_callbacks_delivered"] == 1
    assert [c.answer for c in mis.callbacks] == ["401", "ACK"]


def test_without_a_token_endpoint_no_authorization_is_sent(
    session: Session, session_factory: sessionmaker[Session], admin: User, http: httpx.Client
) -> None:
    with MisStandIn() as open_mis:
        world = make_world(session, session_factory, admin, open_mis, with_token=False)
        sweep_callbacks(world.factory, http=http)
        [received] = open_mis.callbacks
    assert not received.authorized  # the stand-in answers 401 to that
    [callback] = world.callbacks()
    assert callback.state is CallbackState.PENDING
    assert "HTTP 401" in (callback.last_error or "")


def test_500_then_nack_then_ack_is_retried_with_backoff(
    world: World, mis: MisStandIn, http: httpx.Client
) -> None:
    mis.script(["500", "NACK"])
    write_callbacks(world.factory)
    start = later(0)

    assert deliver_due(world.factory, http=http, now=start) == {"retrying": 1}
    [callback] = world.callbacks()
    assert callback.attempts == 1
    assert callback.next_attempt_at == start + backoff(1)
    assert "HTTP 500" in (callback.last_error or "")

    # not due before its backoff: nothing is sent
    assert deliver_due(world.factory, http=http, now=start + backoff(1) / 2) == {}
    assert len(mis.callbacks) == 1

    second = start + backoff(1)
    assert deliver_due(world.factory, http=http, now=second) == {"retrying": 1}
    [callback] = world.callbacks()
    assert callback.next_attempt_at == second + backoff(2)
    assert backoff(2) == 2 * backoff(1)
    assert "NACK" in (callback.last_error or "")

    assert deliver_due(world.factory, http=http, now=second + backoff(2)) == {"delivered": 1}
    [callback] = world.callbacks()
    assert callback.state is CallbackState.DELIVERED
    assert callback.attempts == 3
    assert callback.last_error is None
    assert [c.answer for c in mis.callbacks] == ["500", "NACK", "ACK"]
    # every attempt was the same message: the MIS can tell a retry from news
    assert {c.message_id for c in mis.callbacks} == {callback.message_id}
    assert mis.counts() == {"rcvd": 3, "rjct": 1}


def test_an_err_ack_and_an_unreachable_sender_are_retried(
    world: World, mis: MisStandIn, http: httpx.Client
) -> None:
    mis.script(["ERR"])
    write_callbacks(world.factory)
    deliver_due(world.factory, http=http)
    [callback] = world.callbacks()
    assert "ERR err.request.bad" in (callback.last_error or "")

    with unit_of_work(world.factory) as session:
        txn = session.get(G2PConnectTransaction, world.txn_id)
        assert txn is not None
        txn.callback_url = "http://127.0.0.1:9/callback/on-disburse"  # nobody listens there
    deliver_due(world.factory, http=http, now=later(3600))
    [callback] = world.callbacks()
    assert callback.state is CallbackState.PENDING
    assert callback.attempts == 2
    assert "ConnectError" in (callback.last_error or "")


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [10, 20, 40]
    assert backoff(MAX_ATTEMPTS) == timedelta(hours=1)


def test_a_callback_failing_every_time_is_given_up(world: World, http: httpx.Client) -> None:
    write_callbacks(world.factory)
    with unit_of_work(world.factory) as session:
        session.execute(update(G2PConnectCallback).values(attempts=MAX_ATTEMPTS - 1))
        txn = session.get(G2PConnectTransaction, world.txn_id)
        assert txn is not None
        txn.callback_url = "http://127.0.0.1:9/callback/on-disburse"
    assert deliver_due(world.factory, http=http) == {"given_up": 1}
    [callback] = world.callbacks()
    assert callback.state is CallbackState.GIVEN_UP
    assert deliver_due(world.factory, http=http, now=later(86400)) == {}


def test_a_transactions_callbacks_arrive_in_order(
    world: World, mis: MisStandIn, http: httpx.Client
) -> None:
    """A later callback waits while an earlier one of its transaction is still pending: the
    MIS never sees a record go back from final to open."""
    write_callbacks(world.factory)
    world.reject("R-0")
    write_callbacks(world.factory)
    mis.script(["500"])
    start = later(0)
    assert deliver_due(world.factory, http=http, now=start) == {"retrying": 1}
    assert len(mis.callbacks) == 1  # the second waits behind the first

    assert deliver_due(world.factory, http=http, now=start + backoff(1)) == {"delivered": 2}
    sequences = [
        next(c.sequence for c in world.callbacks() if c.message_id == received.message_id)
        for received in mis.callbacks
    ]
    assert sequences == [1, 1, 2]
    assert mis.statuses["R-0"]["status"] == "rjct"


# --- claims and restarts -----------------------------------------------------------------------


def test_a_claimed_callback_is_not_claimed_twice(world: World) -> None:
    write_callbacks(world.factory)
    with unit_of_work(world.factory) as session:
        first = claim_due(session, "worker-a")
    with unit_of_work(world.factory) as session:
        second = claim_due(session, "worker-b")
    assert len(first) == 1
    assert second == []
    # once its lease lapses (worker-a died), another worker takes it
    with unit_of_work(world.factory) as session:
        third = claim_due(session, "worker-b", now=later(LEASE.total_seconds() + 1))
    assert [c.id for c in third] == [first[0].id]


def test_a_late_answer_from_a_lapsed_claim_changes_nothing(
    world: World, mis: MisStandIn, http: httpx.Client
) -> None:
    from g2p_payment_phee.g2p_connect.outbox import record_outcome

    write_callbacks(world.factory)
    with unit_of_work(world.factory) as session:
        [stale] = claim_due(session, "worker-a")
    assert deliver_due(world.factory, http=http, now=later(LEASE.total_seconds() + 1)) == {
        "delivered": 1
    }
    with unit_of_work(world.factory) as session:
        assert record_outcome(session, stale, "worker-a", "HTTP 500") is None
    [callback] = world.callbacks()
    assert callback.state is CallbackState.DELIVERED


def test_a_callback_survives_the_process_that_wrote_it(
    world: World, mis: MisStandIn, http: httpx.Client, engine: Engine, db_url: str
) -> None:
    """The outbox row is written and committed, then the process "dies" before delivering
    (its engine is thrown away with a claim it never finished); a new process (a new engine
    and session factory) delivers the callback exactly once."""
    write_callbacks(world.factory)
    with unit_of_work(world.factory) as session:
        claim_due(session, "the-process-that-died")
    engine.dispose()

    restarted = make_engine(db_url)
    try:
        factory = make_session_factory(restarted)
        assert deliver_due(factory, http=http) == {}  # its lease still holds
        after_lease = later(LEASE.total_seconds() + 1)
        assert deliver_due(factory, http=http, now=after_lease) == {"delivered": 1}
        assert deliver_due(factory, http=http, now=later(7200)) == {}
        assert write_callbacks(factory) == 0  # the change is not written twice either
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(G2PConnectCallback)) == 1
    finally:
        restarted.dispose()
    assert len(mis.callbacks) == 1
    assert mis.counts() == {"rcvd": 3, "rjct": 1}


def test_errors_and_logs_carry_no_secret(
    world: World, mis: MisStandIn, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A token endpoint that refuses (wrong secret at the MIS) is reported by host and status,
    never with the client secret; nor does any token reach the log."""
    mis.client_secret = "the-mis-now-wants-another"
    caplog.set_level(logging.DEBUG, logger="g2p_payment_phee")
    sweep_callbacks(world.factory, http=http)
    [callback] = world.callbacks()
    assert callback.last_error is not None
    assert "token endpoint 127.0.0.1" in callback.last_error
    assert "HTTP 401" in callback.last_error
    for secret in ("s3cret-of-the-mis", "the-mis-now-wants-another"):
        assert secret not in callback.last_error
        assert secret not in caplog.text
    assert mis.callbacks == []
