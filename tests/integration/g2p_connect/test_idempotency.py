"""Two identical requests at the same moment: one stores, the other gets its answer.

The entry point's own function (``_answer``) runs on two threads released together, several
times over; whatever the interleaving, the unique constraints leave one message, one
transaction and one record per reference, and both callers the same answer.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.db import unit_of_work, utcnow
from g2p_payment_phee.g2p_connect import service, tokens
from g2p_payment_phee.g2p_connect.models import (
    G2PConnectMessage,
    G2PConnectRecord,
    G2PConnectTransaction,
)
from g2p_payment_phee.g2p_connect.receipt import DISBURSE_ACTIONS
from g2p_payment_phee.programs.models import Cycle, Entitlement, Program
from g2p_payment_phee.registry.models import Registrant
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.api import g2p_connect as route
from tests.integration.g2p_connect.conftest import SENDER, Mis, record, register

ROUNDS = 5


def _twice_at_once(factory: sessionmaker[Session], raw: bytes, sync: bool) -> list[Any]:
    grant = tokens.Grant(SENDER, frozenset(tokens.SCOPES), expires_at=utcnow())
    gate = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def call(slot: int) -> None:
        gate.wait()
        answer = route._answer(factory, grant, raw, DISBURSE_ACTIONS, _receive(sync), sync)
        answers[slot] = json.loads(bytes(answer.body))

    threads = [threading.Thread(target=call, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def _receive(sync: bool) -> route.Work:
    from g2p_payment_phee.g2p_connect.receipt import receive_disburse

    return lambda session, sender, envelope: (
        receive_disburse(session, sender, envelope, sync=sync).answer
    )


@pytest.mark.parametrize("sync", [False, True])
@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])  # SQLite serialises writers: no race to test
def test_two_identical_requests_at_once_store_once(
    backend: str,
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    program: Program,
    sync: bool,
) -> None:
    register(session, admin, program)
    mis = Mis(client=None, sender_id=SENDER, secret="")  # type: ignore[arg-type]
    for number in range(ROUNDS):
        records = [
            record(f"R{number}-{i}", payee=f"mobile:+25470000{number}{i:03d}") for i in range(50)
        ]
        body = mis.envelope("disburse", {"transaction_id": f"T-{number}", "disbursements": records})
        first, second = _twice_at_once(session_factory, json.dumps(body).encode(), sync)
        assert first == second
        assert first["message"].get("ack_status", "ACK") == "ACK"
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(G2PConnectMessage)) == ROUNDS
    assert session.scalar(select(func.count()).select_from(G2PConnectTransaction)) == ROUNDS
    assert session.scalar(select(func.count()).select_from(G2PConnectRecord)) == ROUNDS * 50


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])  # SQLite serialises writers: no race to test
def test_two_messages_with_the_same_transaction_at_once_make_one(
    backend: str,
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    program: Program,
) -> None:
    register(session, admin, program)
    mis = Mis(client=None, sender_id=SENDER, secret="")  # type: ignore[arg-type]
    grant = tokens.Grant(SENDER, frozenset(tokens.SCOPES), expires_at=utcnow())
    records = [record(f"R-{i}", payee=f"mobile:+254700001{i:03d}") for i in range(20)]
    bodies = [
        json.dumps(mis.envelope("disburse", {"transaction_id": "T", "disbursements": records}))
        for _ in range(2)
    ]
    gate = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def call(slot: int) -> None:
        gate.wait()
        answer = route._answer(
            session_factory, grant, bodies[slot].encode(), DISBURSE_ACTIONS, _receive(True), True
        )
        answers[slot] = json.loads(bytes(answer.body))

    threads = [threading.Thread(target=call, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for answer in answers:
        statuses = {s["status"] for s in answer["message"]["disbursements_status"]}
        assert statuses == {"rcvd"}, answer  # the second caller sees the first one's records
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(G2PConnectTransaction)) == 1
    assert session.scalar(select(func.count()).select_from(G2PConnectRecord)) == 20


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])  # SQLite serialises writers: no race to test
def test_two_intakes_naming_the_same_payees_at_once_both_complete(
    backend: str,
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    program: Program,
) -> None:
    """Two transactions of one sender paying the same people, taken in at the same moment:
    each payee becomes one registrant, each transaction its own cycle with its own number."""
    register(session, admin, program)
    mis = Mis(client=None, sender_id=SENDER, secret="")  # type: ignore[arg-type]
    grant = tokens.Grant(SENDER, frozenset(tokens.SCOPES), expires_at=utcnow())
    for name in ("T-A", "T-B"):
        records = [record(f"{name}-{i}", payee=f"mobile:+254700002{i:03d}") for i in range(30)]
        body = mis.envelope("disburse", {"transaction_id": name, "disbursements": records})
        route._answer(
            session_factory,
            grant,
            json.dumps(body).encode(),
            DISBURSE_ACTIONS,
            _receive(True),
            True,
        )
    txn_ids = list(session.scalars(select(G2PConnectTransaction.id)))
    gate = threading.Barrier(2)
    failures: list[BaseException] = []

    def intake(txn_id: uuid.UUID) -> None:
        gate.wait()
        try:
            with unit_of_work(session_factory) as own:
                service.take_in(own, txn_id)
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=intake, args=(txn_id,)) for txn_id in txn_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Registrant)) == 30
    assert session.scalar(select(func.count()).select_from(Entitlement)) == 60
    sequences = session.scalars(select(Cycle.sequence).where(Cycle.program_id == program.id))
    assert sorted(sequences) == [1, 2]
