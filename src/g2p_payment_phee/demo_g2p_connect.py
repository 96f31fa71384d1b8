"""The demo's G2P Connect part: an MIS pays some of the demo's beneficiaries through us.

The admin registers the MIS as a sender of the demo program (auto-approving, its own token
endpoint for our callbacks); the application is served in this process on a loopback port; the
MIS stand-in (``g2p_connect.mis``) gets a token, sends a disburse of 50 beneficiaries' phones
as ``mobile:`` financial addresses, and is called back until every record is final. What the
server does over time (jobs, the hub settling, the sweep) is run here at once, round by round.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.emulator import EmulatorServer
from g2p_payment_phee.g2p_connect.mis import Beneficiary, MisStandIn
from g2p_payment_phee.g2p_connect.senders import SenderRequest, add_sender
from g2p_payment_phee.i18n import _
from g2p_payment_phee.jobs.runner import InProcessRunner
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.registry.models import Phone
from g2p_payment_phee.users import service as users
from g2p_payment_phee.web.app import create_app

SENDER_ID = "demo-mis"
RECORDS = 50
AMOUNT = "1500.00"
ROUNDS = 10
TRANSACTION_ID = "DEMO-G2P-CONNECT-1"


def pay_through_g2p_connect(
    factory: sessionmaker[Session],
    hub: EmulatorServer,
    program_name: str,
    currency: str,
    say: Callable[[str], None],
) -> Counter[str]:
    """Register the MIS, let it send a disburse and be told every outcome; the final
    statuses it was told, as counts (``succ``, ``rjct``)."""
    with MisStandIn(client_id="g2p-payment-phee") as mis:
        secret = _register(factory, program_name, mis)
        people = _beneficiaries(factory, currency)
        app = create_app(factory)
        with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as http:
            ack = mis.disburse(
                http,
                sender_id=SENDER_ID,
                client_secret=secret,
                transaction_id=TRANSACTION_ID,
                beneficiaries=people,
            )
            say(
                _("G2P Connect: the MIS sent a disburse of {count} records, answered {ack}").format(
                    count=len(people), ack=ack["message"]["ack_status"]
                )
            )
            _run_until_final(app, hub, mis, [b.reference_id for b in people])
    return mis.counts()


def _register(factory: sessionmaker[Session], program_name: str, mis: MisStandIn) -> str:
    with unit_of_work(factory) as session:
        admin = users.get_user(session, "admin")
        request = SenderRequest(
            sender_id=SENDER_ID,
            program=programs.get_program(session, program_name),
            auto_approve=True,
            token_url=mis.token_url,
            token_client_id=mis.client_id,
            token_client_secret=mis.client_secret,
        )
        _, secret = add_sender(session, admin, request)
    return secret


def _beneficiaries(factory: sessionmaker[Session], currency: str) -> list[Beneficiary]:
    """The first ``RECORDS`` phones of the demo's registry, as the MIS knows its people."""
    with factory() as session:
        numbers = session.scalars(select(Phone.number).order_by(Phone.number).limit(RECORDS))
        return [
            Beneficiary(f"MIS-{index:04d}", f"mobile:{number}@mpesa", AMOUNT, currency)
            for index, number in enumerate(numbers, start=1)
        ]


def _run_until_final(
    app: FastAPI, hub: EmulatorServer, mis: MisStandIn, references: list[str]
) -> None:
    """What the server does over time, at once: its jobs, the hub settling, the sweep."""
    runner = app.state.job_runner
    assert isinstance(runner, InProcessRunner)
    for _round in range(ROUNDS):
        runner.wait_idle(300)
        hub.complete_all()
        runner.sweep_now()  # syncs the cycle, writes and delivers the callbacks
        runner.wait_idle(300)
        runner.sweep_now()
        if mis.final(references):
            return


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """The application on a free loopback port, from a thread; its address. The socket is
    bound before the server starts, so requests wait in its queue until it is ready."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
