"""The whole round trip (issue 23 items 4 and 6): the MIS stand-in gets a token from us and sends
a disburse; we take it in, pay through the PHEE emulator over loopback (some payees fail), and
call the MIS back, with a bearer token from its own token endpoint, until every record is
final; the MIS refuses a callback first and gets it again after the backoff.

Nothing here sleeps: the test runs what the server does over time itself (waits for the jobs
it started, lets the emulator settle, runs the sweep) and moves the outbox's clock explicitly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.db import make_engine, make_session_factory, utcnow
from g2p_payment_phee.emulator import EmulatorConfig, EmulatorServer
from g2p_payment_phee.g2p_connect.callback_tasks import deliver_due
from g2p_payment_phee.g2p_connect.mis import Beneficiary, MisStandIn, kenyan_beneficiaries
from g2p_payment_phee.g2p_connect.outbox import backoff
from g2p_payment_phee.g2p_connect.outbox_models import CallbackState, G2PConnectCallback
from g2p_payment_phee.g2p_connect.senders import SenderRequest, add_sender
from g2p_payment_phee.jobs.runner import InProcessRunner
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.programs.models import ManagerKind
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.app import create_app
from tests import factories

SEED = 23
ROUNDS = 8
HUB_SECRETS: dict[str, str | None] = {
    "password": "password",
    "authorization": "Basic Y2xpZW50Og==",
}


@pytest.fixture(scope="module")
def _emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=SEED)) as server:
        yield server


@pytest.fixture
def hub(_emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    _emulator.call(lambda state: state.reconfigure(EmulatorConfig(seed=SEED)))
    _emulator.reset()
    yield _emulator
    _emulator.settle_callbacks()


@dataclass
class RoundTrip:
    """Our application (without its sweep thread: the test runs the sweep), the emulator
    behind it, and the MIS in front of it."""

    factory: sessionmaker[Session]
    client: TestClient
    runner: InProcessRunner
    hub: EmulatorServer
    mis: MisStandIn
    sender_id: str
    secret: str

    def disburse(self, beneficiaries: list[Beneficiary], transaction_id: str) -> str:
        ack = self.mis.disburse(
            self.client,
            sender_id=self.sender_id,
            client_secret=self.secret,
            transaction_id=transaction_id,
            beneficiaries=beneficiaries,
        )
        return str(ack["message"]["ack_status"])

    def run_until_final(self, references: list[str]) -> int:
        """What the server does over time (the jobs it started finish, the hub settles, the
        sweep syncs and calls back), until the MIS knows every record final; the rounds."""
        for round_number in range(1, ROUNDS + 1):
            assert self.runner.wait_idle(120)
            self.hub.complete_all()
            self.runner.sweep_now()
            assert self.runner.wait_idle(120)
            self.runner.sweep_now()  # the syncs' news, told
            if self.mis.final(references):
                return round_number
        raise AssertionError(f"not final after {ROUNDS} rounds: {self.mis.counts()}")

    def callbacks(self) -> list[G2PConnectCallback]:
        with self.factory() as session:
            query = select(G2PConnectCallback).order_by(G2PConnectCallback.created_at)
            return list(session.scalars(query))


def hub_settings(hub: EmulatorServer) -> dict[str, object]:
    base = hub.base_url
    return {
        "tenant_id": "gorilla",
        "payee_id_type": "phone",
        "username": "mifos",
        "auth_endpoint_url": f"{base}/oauth/token",
        "payment_endpoint_url": f"{base}/batchtransactions",
        "status_endpoint_url": f"{base}/api/v1/batch",
        "details_endpoint_url": f"{base}/api/v1/batch/detail",
        "batch_request_timeout": 5,
    }


@pytest.fixture
def round_trip(
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    hub: EmulatorServer,
) -> Iterator[RoundTrip]:
    program = factories.program(session, admin, maker_checker=False)
    configure_manager(session, admin, program, ManagerKind.PHEE, hub_settings(hub), HUB_SECRETS)
    with MisStandIn(client_id="phee-at-the-mis") as mis:
        request = SenderRequest(
            sender_id="mis-round-trip",
            program=program,
            auto_approve=True,
            token_url=mis.token_url,
            token_client_id=mis.client_id,
            token_client_secret=mis.client_secret,
        )
        sender, secret = add_sender(session, admin, request)
        session.commit()
        app = create_app(session_factory)  # its lifespan is not run: the test sweeps
        runner = app.state.job_runner
        assert isinstance(runner, InProcessRunner)
        try:
            yield RoundTrip(
                session_factory, TestClient(app), runner, hub, mis, sender.sender_id, secret
            )
        finally:
            runner.shutdown()


def failing(beneficiaries: list[Beneficiary], reason: str) -> dict[str, str]:
    """The emulator's failing payees for these beneficiaries (their numbers as files carry
    them, with or without the ``+``)."""
    numbers = [b.payee_fa.split(":", 1)[1].split("@", 1)[0] for b in beneficiaries]
    return {form: reason for n in numbers for form in (n, n.lstrip("+"))}


def test_round_trip_with_failures_and_a_refused_callback(round_trip: RoundTrip) -> None:
    rt = round_trip
    people = kenyan_beneficiaries(30, seed=SEED)
    closed = people[::10]  # 3 payees whose accounts are closed at the hub
    rt.hub.set_outcomes({"failing_payees": failing(closed, "Payee account closed")})
    rt.mis.script(["500"])  # the MIS is down for the first callback

    assert rt.disburse(people, "TXN-ROUND-TRIP") == "ACK"
    assert rt.runner.wait_idle(120)  # taken in, approved, prepared, sent
    rt.runner.sweep_now()
    [first] = rt.callbacks()
    assert first.state is CallbackState.PENDING
    assert first.attempts == 1
    assert "HTTP 500" in (first.last_error or "")
    # after its backoff it goes again (the clock moved, not slept) and is ACKed
    assert deliver_due(rt.factory, now=utcnow() + backoff(1))["delivered"] == 1

    references = [b.reference_id for b in people]
    rt.run_until_final(references)
    assert rt.mis.counts() == {"succ": 27, "rjct": 3}
    statuses = rt.mis.statuses
    for person in closed:
        item = statuses[person.reference_id]
        assert item["status"] == "rjct"
        assert item["status_reason_message"] == "Payee account closed"
        assert item["status_reason_code"] == "rjct.payment.failed"
    paid = statuses[people[1].reference_id]
    assert (paid["status"], paid["amount"]) == ("succ", "1500.00")

    # every callback carried a token the MIS issued; the refused one came again, same message
    received = rt.mis.callbacks
    assert all(c.authorized for c in received)
    assert [c.answer for c in received[:2]] == ["500", "ACK"]
    assert received[0].message_id == received[1].message_id == first.message_id
    assert all(c.state is CallbackState.DELIVERED for c in rt.callbacks())
    last = received[-1].body or {}
    assert last["header"]["status"] == "succ"
    assert (last["header"]["total_count"], last["header"]["completed_count"]) == (30, 30)
    final_tellings = [
        item["reference_id"]
        for c in received
        if c.answer == "ACK"
        for item in c.records
        if item["status"] in ("succ", "rjct")
    ]
    assert sorted(final_tellings) == sorted(references)  # each final status told once

    # nothing more to tell: another sweep writes and sends nothing
    counts = rt.runner.sweep_now()
    assert counts["g2p_callbacks_written"] == 0
    assert len(rt.mis.callbacks) == len(received)


def test_the_same_disburse_twice_is_paid_and_told_once(round_trip: RoundTrip) -> None:
    rt = round_trip
    people = kenyan_beneficiaries(5, seed=SEED + 1)
    assert rt.disburse(people, "TXN-TWICE") == "ACK"
    rt.disburse(people, "TXN-TWICE")  # the MIS retries: a new message, the same transaction
    rt.run_until_final([b.reference_id for b in people])
    assert rt.mis.counts() == {"succ": 5}
    final_tellings = [
        item["reference_id"]
        for c in rt.mis.callbacks
        for item in c.records
        if item["status"] == "succ"
    ]
    assert sorted(final_tellings) == sorted(b.reference_id for b in people)
    assert rt.hub.inspect()["accepted_more_than_once"] == []


def test_callbacks_written_by_a_process_that_died_are_delivered_once_after_restart(
    round_trip: RoundTrip, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every sweep of the first process writes its callbacks, then the process "dies" before
    delivering any (delivery is cut out); a new application over a new engine delivers each
    exactly once, in order."""
    from g2p_payment_phee.g2p_connect import callback_tasks

    rt = round_trip
    people = kenyan_beneficiaries(8, seed=SEED + 2)
    monkeypatch.setattr(callback_tasks, "deliver_due", lambda *_, **__: Counter())
    assert rt.disburse(people, "TXN-RESTART") == "ACK"
    for _ in range(3):
        assert rt.runner.wait_idle(120)
        rt.hub.complete_all()
        rt.runner.sweep_now()
    assert rt.runner.wait_idle(120)
    rt.runner.sweep_now()
    written = rt.callbacks()
    assert written
    assert {c.state for c in written} == {CallbackState.PENDING}
    assert rt.mis.callbacks == []
    rt.runner.shutdown()
    monkeypatch.undo()

    engine = make_engine(db_url)
    try:
        app = create_app(make_session_factory(engine))
        restarted = app.state.job_runner
        assert isinstance(restarted, InProcessRunner)
        counts = restarted.sweep_now()
        again = restarted.sweep_now()
        restarted.shutdown()
    finally:
        engine.dispose()
    assert counts["g2p_callbacks_delivered"] == len(written)
    assert again["g2p_callbacks_delivered"] == again["g2p_callbacks_written"] == 0
    assert [c.message_id for c in rt.mis.callbacks] == [c.message_id for c in written]
    assert rt.mis.counts() == {"succ": 8}


def test_a_retried_payment_is_told_again_until_paid(
    round_trip: RoundTrip, session: Session, admin: User
) -> None:
    """A record told ``rjct`` (failed at the hub) whose payment the program team retries is
    told ``pdng`` and then ``succ``: a final status is told again only after such a retry."""
    from g2p_payment_phee.g2p_connect.models import G2PConnectTransaction
    from g2p_payment_phee.payments import service as payments
    from g2p_payment_phee.programs.models import Cycle

    rt = round_trip
    people = kenyan_beneficiaries(6, seed=SEED + 3)
    rt.hub.set_outcomes({"failing_payees": failing(people[:2], "Payee FSP unavailable")})
    assert rt.disburse(people, "TXN-RETRY") == "ACK"
    rt.run_until_final([b.reference_id for b in people])
    assert rt.mis.counts() == {"succ": 4, "rjct": 2}
    assert rt.runner.sweep_now()["g2p_callbacks_written"] == 0  # nothing new: nothing read

    rt.hub.set_outcomes({"failing_payees": {}})  # the outage is over
    with rt.factory() as own:
        cycle_id = own.scalars(
            select(G2PConnectTransaction.cycle_id).where(
                G2PConnectTransaction.transaction_id == "TXN-RETRY"
            )
        ).one()
        cycle = own.get(Cycle, cycle_id)
        assert cycle is not None
        actor = own.merge(admin)
        assert payments.retry_failed(own, actor, cycle).created == 2
        own.commit()
    assert cycle_id is not None
    payments.send_cycle(rt.factory, admin, cycle_id)
    told_before = len(rt.mis.callbacks)
    for _round in range(ROUNDS):
        rt.hub.complete_all()
        rt.runner.sweep_now()
        assert rt.runner.wait_idle(120)
        rt.runner.sweep_now()
        if rt.mis.counts() == {"succ": 6}:
            break
    assert rt.mis.counts() == {"succ": 6}
    steps = [
        (item["reference_id"], item["status"])
        for c in rt.mis.callbacks[told_before:]
        for item in c.records
    ]
    for person in people[:2]:
        mine = [status for reference, status in steps if reference == person.reference_id]
        assert mine[-1] == "succ"
        assert mine[0] in ("rcvd", "pdng")  # back to open before paid
    assert {reference for reference, _ in steps} == {p.reference_id for p in people[:2]}


def test_two_transactions_sent_back_to_back_are_both_paid_and_told(
    round_trip: RoundTrip,
) -> None:
    """Two intake jobs may run at once (two job threads): each transaction gets a cycle of its
    own and both senders' records are paid and told."""
    rt = round_trip
    people = kenyan_beneficiaries(400, seed=SEED + 4)  # distinct payees in both
    first, second = people[:200], people[200:]
    assert rt.disburse(first, "TXN-A") == "ACK"
    assert rt.disburse(second, "TXN-B") == "ACK"
    rt.run_until_final([b.reference_id for b in first + second])
    assert rt.mis.counts() == {"succ": 400}
