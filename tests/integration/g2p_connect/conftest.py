"""A program paying by phone through the default manager, a registered sender, and a client
that speaks G2P Connect to the app (tokens, envelopes, signatures)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.g2p_connect import signature
from g2p_payment_phee.g2p_connect.models import G2PConnectSender
from g2p_payment_phee.g2p_connect.senders import SenderRequest, add_sender
from g2p_payment_phee.jobs.runner import InProcessRunner
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.programs import service as programs
from g2p_payment_phee.programs.models import ManagerKind, Program
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.app import create_app

SENDER = "openg2p-mis"


def make_program(
    session: Session, admin: User, *, name: str = "G2P Program", payee: str = "phone"
) -> Program:
    """A KES program paid by the default manager, its payees by ``payee``."""
    program = programs.create_program(
        session, admin, name=name, currency="KES", manager_kind=ManagerKind.DEFAULT
    )
    configure_manager(session, admin, program, ManagerKind.DEFAULT, {"payee_id_type": payee})
    return program


@dataclass
class Mis:
    """An MIS calling the app: its credentials, and a signing key when it signs."""

    client: TestClient
    sender_id: str
    secret: str
    key: Ed25519PrivateKey | None = None
    token: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)

    def get_token(self, scope: str = "") -> httpx.Response:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.sender_id,
            "client_secret": self.secret,
        }
        if scope:
            form["scope"] = scope
        answer: httpx.Response = self.client.post("/g2p-connect/oauth2/client/token", data=form)
        return answer

    def login(self) -> None:
        answer = self.get_token()
        assert answer.status_code == 200, answer.text
        self.token = answer.json()["access_token"]

    def envelope(
        self,
        action: str,
        message: dict[str, Any],
        *,
        total_count: int | None = None,
        version: str = "1.0.0",
        message_id: str | None = None,
        **header: Any,
    ) -> dict[str, Any]:
        head: dict[str, Any] = {
            "version": version,
            "message_id": message_id or str(uuid.uuid4()),
            "message_ts": "2026-12-08T00:00:00Z",
            "action": action,
            "sender_id": self.sender_id,
            "total_count": total_count if total_count is not None else _count(message),
            **header,
        }
        body: dict[str, Any] = {"header": head, "message": message}
        if self.key is not None:
            body["signature"] = signature.sign(self.key, self.sender_id, head, message)
        return body

    def post(self, path: str, body: Any, **kw: Any) -> httpx.Response:
        if not self.token:
            self.login()
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        answer: httpx.Response
        if isinstance(body, bytes):
            answer = self.client.post(path, content=body, headers=headers, **kw)
        else:
            answer = self.client.post(path, json=body, headers=headers, **kw)
        return answer

    def get(self, path: str) -> httpx.Response:
        if not self.token:
            self.login()
        answer: httpx.Response = self.client.get(
            path, headers={"Authorization": f"Bearer {self.token}"}
        )
        return answer

    def disburse(
        self, transaction_id: str, records: list[dict[str, Any]], *, sync: bool = False, **kw: Any
    ) -> httpx.Response:
        message = {"transaction_id": transaction_id, "disbursements": records}
        path = "/g2p-connect/disburse/sync/disburse" if sync else "/g2p-connect/disburse"
        return self.post(path, self.envelope("disburse", message, **kw))

    def wait_for_jobs(self) -> None:
        runner = self.client.app.state.job_runner  # type: ignore[attr-defined]
        assert isinstance(runner, InProcessRunner)
        assert runner.wait_idle(timeout=60), "jobs did not finish"


def _count(message: dict[str, Any]) -> int:
    for key in ("disbursements", "disburemsents", "disburse_request"):
        if isinstance(message.get(key), list):
            return len(message[key])
    return 1


def record(
    reference: str, payee: str = "mobile:+254700000001@mpesa", amount: Any = "100.00", **kw: Any
) -> dict[str, Any]:
    """One DisburseRequest item."""
    return {
        "reference_id": reference,
        "payer_fa": "",
        "payee_fa": payee,
        "amount": amount,
        "currency_code": "KES",
        **kw,
    }


@pytest.fixture
def program(session: Session, admin: User) -> Program:
    row = make_program(session, admin)
    session.commit()
    return row


def register(
    session: Session, admin: User, program: Program, sender_id: str = SENDER, **kw: Any
) -> tuple[G2PConnectSender, str]:
    sender, secret = add_sender(session, admin, SenderRequest(sender_id, program, **kw))
    session.commit()
    return sender, secret


@pytest.fixture
def client(session_factory: sessionmaker[Session], session: Session) -> Iterator[TestClient]:
    session.commit()
    with TestClient(create_app(session_factory)) as test_client:
        yield test_client


@pytest.fixture
def mis(client: TestClient, session: Session, admin: User, program: Program) -> Mis:
    _, secret = register(session, admin, program)
    return Mis(client, SENDER, secret)
