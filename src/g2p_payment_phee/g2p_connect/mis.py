"""A small MIS standing in for OpenG2P, OpenSPP or a national registry: for the demo, the
``send-demo`` command and the round-trip tests.

It plays the other side of G2P Connect (docs/g2p-connect.md) on its own: it imports nothing
from the product, so a misreading of the spec on our side is not hidden by sharing it here. It

- serves its own token endpoint (``POST /oauth2/client/token``, client credentials) and the
  ``on-disburse`` receiver (``POST /callback/on-disburse``) on a loopback port from a thread
  (stdlib ``http.server``); a callback without a bearer token it issued gets 401;
- answers each callback with the scripted answers it was given (``"500"``, ``"NACK"``,
  ``"ERR"``, ``"401"``, ``"timeout"`` ... one per callback, in order), then ``ACK``; only ACKed
  callbacks change what it knows of its records;
- gets a token from us and sends a ``disburse`` of its beneficiaries (``disburse``), and says
  when every record is final (``wait_final``, ``final``).
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import httpx

TOKEN_PATH = "/oauth2/client/token"  # noqa: S105 (a path)
CALLBACK_PATH = "/callback/on-disburse"
OUR_TOKEN_PATH = "/g2p-connect/oauth2/client/token"  # noqa: S105 (a path)
DISBURSE_PATH = "/g2p-connect/disburse"
FINAL = frozenset({"succ", "rjct"})
TOKEN_SECONDS = 300
# how long a "timeout" answer keeps the caller waiting (longer than its read timeout)
HOLD_SECONDS = 3.0


@dataclass(frozen=True)
class Beneficiary:
    """One record the MIS asks to pay."""

    reference_id: str
    payee_fa: str
    amount: str
    currency_code: str
    payee_name: str = ""

    def wire(self, payer_fa: str) -> dict[str, Any]:
        """The ``DisburseRequest`` item, as the spec spells it."""
        item: dict[str, Any] = {
            "reference_id": self.reference_id,
            "payer_fa": payer_fa,
            "payee_fa": self.payee_fa,
            "amount": self.amount,
            "currency_code": self.currency_code,
            "note": "G2P Connect demo",
            "locale": "eng",
        }
        if self.payee_name:
            item["payee_name"] = self.payee_name
        return item


@dataclass(frozen=True)
class ReceivedCallback:
    """A callback as it arrived, and how the MIS answered it."""

    authorized: bool
    answer: str
    body: dict[str, Any] | None

    @property
    def message_id(self) -> str:
        """The callback's ``header.message_id`` ("" when unreadable)."""
        header = (self.body or {}).get("header") or {}
        return str(header.get("message_id", ""))

    @property
    def records(self) -> list[dict[str, Any]]:
        """The ``disbursements_status`` items it carried."""
        message = (self.body or {}).get("message") or {}
        return list(message.get("disbursements_status") or [])


@dataclass
class _Knowledge:
    """What the MIS knows, guarded by one condition (its handler threads write it)."""

    condition: threading.Condition = field(default_factory=threading.Condition)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> scope
    answers: list[str] = field(default_factory=list)
    callbacks: list[ReceivedCallback] = field(default_factory=list)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)  # by reference_id
    accepted_ids: set[str] = field(default_factory=set)  # callback message_ids ACKed


class MisStandIn:
    """The MIS's HTTP side on ``host:port`` (0: a free port), started with ``with``.

    ``client_id``/``client_secret`` are the credentials our product must present to the MIS's
    token endpoint (registered with the sender); ``answers`` script its replies to callbacks;
    without ``require_token`` a callback with no token (a sender registered without a token
    endpoint) is taken too.
    """

    def __init__(
        self,
        *,
        client_id: str = "g2p-payment-phee",
        client_secret: str | None = None,
        answers: Sequence[str] = (),
        require_token: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.require_token = require_token
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.host = host
        self.port = port
        self._known = _Knowledge(answers=list(answers))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- the HTTP side ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running MIS."""
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        """The MIS's own token endpoint (register it with the sender)."""
        return self.base_url + TOKEN_PATH

    @property
    def callback_url(self) -> str:
        """Where the MIS wants its ``on-disburse`` callbacks (``header.sender_uri``)."""
        return self.base_url + CALLBACK_PATH

    def start(self) -> MisStandIn:
        """Bind and serve from a daemon thread; the socket listens before this returns."""
        if self._server is not None:
            raise RuntimeError("the MIS stand-in is already started")
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mis-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> MisStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def script(self, answers: Iterable[str]) -> None:
        """Answer the next callbacks with these (then ACK again)."""
        with self._known.condition:
            self._known.answers = list(answers)

    def revoke_tokens(self) -> None:
        """Forget every token issued so far (as an expiry would)."""
        with self._known.condition:
            self._known.tokens.clear()

    def issue_token(self, client_id: str, client_secret: str, scope: str) -> str | None:
        """A fresh token for matching credentials, else None."""
        ok = client_id == self.client_id and secrets.compare_digest(
            client_secret.encode(), self.client_secret.encode()
        )
        if not ok:
            return None
        token = secrets.token_urlsafe(24)
        with self._known.condition:
            self._known.tokens[token] = scope
        return token

    def receive(self, authorization: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        """Handle one callback: (HTTP status, JSON answer or None to hold the line)."""
        token = authorization.removeprefix("Bearer ").strip()
        data = _json_or_none(body)
        with self._known.condition:
            authorized = authorization.startswith("Bearer ") and token in self._known.tokens
            refused = self.require_token and not authorized
            answer = "401" if refused else self._next_answer()
            self._known.callbacks.append(ReceivedCallback(authorized, answer, data))
            if answer == "ACK" and data is not None:
                self._accept(data)
            self._known.condition.notify_all()
        return _reply(answer, data)

    def _next_answer(self) -> str:
        return self._known.answers.pop(0) if self._known.answers else "ACK"

    def _accept(self, data: dict[str, Any]) -> None:
        message_id = str((data.get("header") or {}).get("message_id", ""))
        self._known.accepted_ids.add(message_id)
        for item in (data.get("message") or {}).get("disbursements_status") or []:
            self._known.statuses[str(item.get("reference_id"))] = dict(item)

    # --- what the MIS knows ---------------------------------------------------------------------

    @property
    def callbacks(self) -> list[ReceivedCallback]:
        """Every callback received, in order."""
        with self._known.condition:
            return list(self._known.callbacks)

    @property
    def statuses(self) -> dict[str, dict[str, Any]]:
        """The latest ACKed status item of each record, by reference_id."""
        with self._known.condition:
            return {ref: dict(item) for ref, item in self._known.statuses.items()}

    def counts(self) -> Counter[str]:
        """How many records are in each status."""
        return Counter(str(item.get("status")) for item in self.statuses.values())

    def final(self, references: Iterable[str]) -> bool:
        """Whether every one of these records was reported final (``succ`` or ``rjct``)."""
        statuses = self.statuses
        return all(statuses.get(ref, {}).get("status") in FINAL for ref in references)

    def wait_final(self, references: Sequence[str], timeout: float) -> bool:
        """Block until every record is final or ``timeout`` seconds passed (for a CLI waiting
        on a server's sweep; tests drive the sweep and read ``final`` instead)."""
        wanted = set(references)

        def done() -> bool:
            statuses = self._known.statuses
            return all(statuses.get(ref, {}).get("status") in FINAL for ref in wanted)

        with self._known.condition:
            return self._known.condition.wait_for(done, timeout)

    # --- the MIS calling us ----------------------------------------------------------------------

    def disburse(
        self,
        http: httpx.Client,
        *,
        sender_id: str,
        client_secret: str,
        transaction_id: str,
        beneficiaries: Sequence[Beneficiary],
        payer_fa: str = "account:0001@treasury",
        receiver_id: str | None = None,
    ) -> dict[str, Any]:
        """Get a token from us, send one ``disburse`` of ``beneficiaries``; our ack."""
        token = fetch_token(http, sender_id, client_secret)
        header: dict[str, Any] = {
            "version": "1.0.0",
            "message_id": uuid.uuid4().hex,
            "message_ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "action": "disburse",
            "sender_id": sender_id,
            "sender_uri": self.callback_url,
            "total_count": len(beneficiaries),
            "is_msg_encrypted": False,
        }
        if receiver_id:
            header["receiver_id"] = receiver_id
        body = {
            "header": header,
            "message": {
                "transaction_id": transaction_id,
                "disbursements": [b.wire(payer_fa) for b in beneficiaries],
            },
        }
        answer = http.post(DISBURSE_PATH, json=body, headers={"Authorization": f"Bearer {token}"})
        answer.raise_for_status()
        ack: dict[str, Any] = answer.json()
        return ack


def fetch_token(http: httpx.Client, sender_id: str, client_secret: str) -> str:
    """A bearer token from our product's token endpoint (client credentials)."""
    answer = http.post(
        OUR_TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_id": sender_id,
            "client_secret": client_secret,
            "scope": "disburse",
        },
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def kenyan_beneficiaries(
    count: int, *, seed: int = 7, amount: str = "1500.00", currency: str = "KES"
) -> list[Beneficiary]:
    """``count`` made-up beneficiaries paid by M-Pesa number, the same for the same seed."""
    import random

    chooser = random.Random(seed)
    numbers = chooser.sample(range(10_000_000), count)
    return [
        Beneficiary(
            reference_id=f"MIS-{seed}-{index + 1:06d}",
            payee_fa=f"mobile:+25471{number:07d}@mpesa",
            amount=amount,
            currency_code=currency,
        )
        for index, number in enumerate(numbers)
    ]


def _json_or_none(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _reply(answer: str, data: dict[str, Any] | None) -> tuple[int, dict[str, Any] | None]:
    """The HTTP status and body of an answer (``timeout``: hold the line, no body)."""
    if answer == "timeout":
        return 0, None
    if answer in ("401", "500"):
        code = f"err.request.{'unauthorized' if answer == '401' else 'bad'}"
        return int(answer), {"errors": [{"code": code, "message": "stand-in says " + answer}]}
    header = (data or {}).get("header") or {}
    ack: dict[str, Any] = {
        "ack_status": answer,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "correlation_id": str(header.get("message_id", "")) or uuid.uuid4().hex,
    }
    if answer == "ERR":
        ack["error"] = {"code": "err.request.bad", "message": "stand-in says ERR"}
    return 200, {"message": ack}


def _handler(mis: MisStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path == TOKEN_PATH:
                self._token(body)
            elif self.path == CALLBACK_PATH:
                status, answer = mis.receive(self.headers.get("Authorization", ""), body)
                if answer is None:  # "timeout": keep the caller waiting, then drop the line
                    threading.Event().wait(HOLD_SECONDS)
                    self.close_connection = True
                    return
                self._send(status, answer)
            else:
                self._send(404, {"errors": [{"code": "err.request.not_found", "message": ""}]})

        def _token(self, body: bytes) -> None:
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            if form.get("grant_type") != "client_credentials":
                self._send(400, {"error": "unsupported_grant_type"})
                return
            token = mis.issue_token(
                form.get("client_id", ""), form.get("client_secret", ""), form.get("scope", "")
            )
            if token is None:
                self._send(401, {"error": "invalid_client"})
                return
            self._send(
                200,
                {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_SECONDS},
            )

        def _send(self, status: int, data: dict[str, Any]) -> None:
            raw = json.dumps(data).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the stand-in's story is what it received, not an access log."""

    return Handler
