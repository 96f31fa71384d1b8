"""``/g2p-connect/``: the G2P Connect disburse API that an MIS calls (docs/g2p-connect.md).

Not behind the product's sign-in or personal API tokens: a sender gets a bearer token from
``POST /g2p-connect/oauth2/client/token`` with its client credentials. Every answer is JSON in
the spec's shapes: an ack (``ACK``/``NACK``/``ERR``, HTTP 200) or a callback-shaped answer for
the sync endpoints, and ``{"errors": [{code, message}]}`` with 401 (bad or expired token) or
403 (a disabled sender, a scope the token lacks). Malformed input never gets a 500: anything
the checks did not foresee is an ``ERR`` with ``err.service.unavailable`` and is logged.

Each request is one unit of work; a request that loses a race on a unique constraint (two
identical requests at once) is run again, and then finds what the other one stored. The
intake job is submitted in the same transaction, and dispatched once it commits.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import is_database_lost, unit_of_work
from g2p_payment_phee.errors import G2PError
from g2p_payment_phee.g2p_connect import queries, signature, tokens
from g2p_payment_phee.g2p_connect.answers import ack, answer_header, unauthorized
from g2p_payment_phee.g2p_connect.envelope import (
    Declined,
    Envelope,
    Refused,
    parse_json,
    read_envelope,
)
from g2p_payment_phee.g2p_connect.models import G2PConnectSender
from g2p_payment_phee.g2p_connect.receipt import DISBURSE_ACTIONS, receive_disburse
from g2p_payment_phee.g2p_connect.senders import authenticate_client
from g2p_payment_phee.jobs.kinds import JobKind
from g2p_payment_phee.jobs.service import submit

log = logging.getLogger(__name__)
router = APIRouter(prefix="/g2p-connect", tags=["G2P Connect"])
ATTEMPTS = 3
BODY_LIMIT = 64 * 1024 * 1024  # 100,000 records of a disburse fit
TOKEN_BODY_LIMIT = 16 * 1024
TOKEN_PATH = "/g2p-connect/oauth2/client/token"  # noqa: S105 (a path, not a secret)

Work = Callable[[Session, G2PConnectSender, Envelope], dict[str, Any]]
Read = Callable[[Session, G2PConnectSender], dict[str, Any]]


class _Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _secret() -> str:
    return get_settings().secret()


def _factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


@router.post("/oauth2/client/token")
async def issue_token(request: Request) -> JSONResponse:
    """Client credentials (form: ``grant_type=client_credentials``, ``client_id``,
    ``client_secret`` (or HTTP Basic), ``scope``) → a bearer JWT with its expiry and scopes."""
    raw = await _body(request, TOKEN_BODY_LIMIT)
    if raw is None:
        return _json(unauthorized("err.request.bad", "the body is too large"), 413)
    try:
        fields = dict(parse_qsl(raw.decode("utf-8", "replace"), max_num_fields=20))
    except ValueError:  # more fields than a token request has
        fields = {}
    if fields.get("grant_type") != "client_credentials":
        body = unauthorized("err.request.bad", "grant_type must be client_credentials")
        return _json({**body, "error": "unsupported_grant_type"}, 400)
    client_id, secret = _basic(request) or (
        fields.get("client_id", ""),
        fields.get("client_secret", ""),
    )
    factory = _factory(request)

    def check() -> G2PConnectSender | None:
        with unit_of_work(factory) as session:
            return authenticate_client(session, client_id, secret)

    sender = await run_in_threadpool(check) if client_id and secret else None
    if sender is None:
        body = unauthorized("err.request.unauthorized", "unknown client or wrong secret")
        return _json({**body, "error": "invalid_client"}, 401)
    scopes = tokens.granted_scopes(fields.get("scope"))
    token, lifetime = tokens.issue(_secret(), sender.sender_id, scopes)
    return _json(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": " ".join(scopes),
        }
    )


async def _handle(
    request: Request, scopes: frozenset[str], actions: frozenset[str], work: Work, *, sync: bool
) -> JSONResponse:
    try:
        grant = tokens.verify(_secret(), request.headers.get("authorization"))
    except tokens.BadToken as error:
        return _json(unauthorized(error.code, error.message), 401)
    if not grant.scopes & scopes:
        needed = " or ".join(sorted(scopes))
        return _json(unauthorized("err.request.forbidden", f"the token lacks {needed}"), 403)
    raw = await _body(request)
    if raw is None:
        message = f"the body is larger than {BODY_LIMIT // (1024 * 1024)} MB"
        return _json(ack("ERR", None, "err.request.bad", message), 413)
    return await run_in_threadpool(_answer, _factory(request), grant, raw, actions, work, sync)


def _basic(request: Request) -> tuple[str, str] | None:
    """HTTP Basic client credentials (RFC 6749 2.3.1), when sent."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if colon else None


async def _body(request: Request, limit: int = BODY_LIMIT) -> bytes | None:
    """The body, read only up to ``limit`` bytes (None past it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(
    factory: sessionmaker[Session],
    grant: tokens.Grant,
    raw: bytes,
    actions: frozenset[str],
    work: Work,
    sync: bool,
) -> JSONResponse:
    envelope: Envelope | None = None
    try:
        envelope = read_envelope(parse_json(raw), actions)
        if envelope.sender_id != grant.sender_id:
            raise Refused("err.sender_id.invalid", "header.sender_id is not the token's sender")
        return _json(_run(factory, grant, envelope, work))
    except Refused as error:
        return _json(ack("ERR", None, error.code, error.message))
    except Declined as error:
        return _json(_declined(grant, envelope, error, sync))
    except _Forbidden as error:
        return _json(unauthorized("err.request.forbidden", error.message), 403)
    except G2PError as error:
        if is_database_lost(error.__cause__ or error):
            return _json(ack("ERR", None, "err.service.unavailable", "try again later"))
        return _json(ack("ERR", None, "err.service.unavailable", error.message))
    except Exception:
        log.exception("G2P Connect request from %s failed", grant.sender_id)
        message = "the request could not be handled; try again later"
        return _json(ack("ERR", None, "err.service.unavailable", message))


def _run(
    factory: sessionmaker[Session], grant: tokens.Grant, envelope: Envelope, work: Work
) -> dict[str, Any]:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with unit_of_work(factory) as session:
                sender = _sender(session, grant)
                if sender.public_key_pem:
                    signature.verify(
                        sender.public_key_pem, envelope.signature, envelope.header, envelope.message
                    )
                return work(session, sender, envelope)
        except IntegrityError:
            # a concurrent twin stored the same message, transaction or reference first
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _sender(session: Session, grant: tokens.Grant) -> G2PConnectSender:
    sender = session.scalar(
        select(G2PConnectSender).where(G2PConnectSender.sender_id == grant.sender_id)
    )
    if sender is None or not sender.enabled:
        raise _Forbidden("the sender is disabled")
    return sender


def _declined(
    grant: tokens.Grant, envelope: Envelope | None, error: Declined, sync: bool
) -> dict[str, Any]:
    if not sync:
        return ack("NACK", None, error.code, error.message)
    header = answer_header(
        "on-disburse",
        grant.sender_id,
        [],
        status="rjct",
        reason_code=error.code,
        reason_message=error.message,
    )
    transaction_id = envelope.message.get("transaction_id") if envelope else None
    return {
        "signature": None,
        "header": header,
        "message": {"transaction_id": transaction_id, "disbursements_status": []},
    }


def _disburse(sync: bool) -> Work:
    def work(session: Session, sender: G2PConnectSender, envelope: Envelope) -> dict[str, Any]:
        receipt = receive_disburse(session, sender, envelope, sync=sync)
        if receipt.txn_id is not None:
            submit(session, None, JobKind.G2P_CONNECT_INTAKE, {"txn_id": str(receipt.txn_id)})
        return receipt.answer

    return work


def _acked(answer: Work) -> Work:
    """An async status or search: answered at once, with ``NACK`` (no callback follows: the
    result is in this answer)."""

    def work(session: Session, sender: G2PConnectSender, envelope: Envelope) -> dict[str, Any]:
        body = answer(session, sender, envelope)
        body["message"].update(ack("NACK", body["header"]["message_id"])["message"])
        return body

    return work


DISBURSE_SCOPES = frozenset({tokens.DISBURSE})
STATUS_SCOPES = frozenset({tokens.STATUS, tokens.SEARCH, tokens.DISBURSE})


@router.post("/disburse")
async def disburse(request: Request) -> JSONResponse:
    """Disbursements to pay: ACK, then ``on-disburse`` callbacks with the outcomes."""
    return await _handle(request, DISBURSE_SCOPES, DISBURSE_ACTIONS, _disburse(False), sync=False)


@router.post("/disburse/sync/disburse")
async def disburse_sync(request: Request) -> JSONResponse:
    """Disbursements to pay, answered with each record's status at receipt."""
    return await _handle(request, DISBURSE_SCOPES, DISBURSE_ACTIONS, _disburse(True), sync=True)


@router.post("/disburse/txn/status")
async def txn_status(request: Request) -> JSONResponse:
    """Statuses of a transaction's or of given records (answered at once; see ``_acked``)."""
    work = _acked(queries.txn_status)
    return await _handle(request, STATUS_SCOPES, queries.STATUS_ACTIONS, work, sync=False)


@router.post("/disburse/sync/txn/status")
async def txn_status_sync(request: Request) -> JSONResponse:
    """Statuses of a transaction's or of given records."""
    work = queries.txn_status
    return await _handle(request, STATUS_SCOPES, queries.STATUS_ACTIONS, work, sync=True)


@router.post("/disburse/search")
async def search(request: Request) -> JSONResponse:
    """Records by payee or payer FA (answered at once; see ``_acked``)."""
    work = _acked(queries.search)
    return await _handle(request, STATUS_SCOPES, queries.SEARCH_ACTIONS, work, sync=False)


@router.post("/disburse/sync/search")
async def search_sync(request: Request) -> JSONResponse:
    """Records by payee or payer FA."""
    return await _handle(request, STATUS_SCOPES, queries.SEARCH_ACTIONS, queries.search, sync=True)


async def _poll(
    request: Request, read: Callable[[Session, G2PConnectSender], dict[str, Any]]
) -> JSONResponse:
    try:
        grant = tokens.verify(_secret(), request.headers.get("authorization"))
    except tokens.BadToken as error:
        return _json(unauthorized(error.code, error.message), 401)
    if not grant.scopes & STATUS_SCOPES:
        return _json(unauthorized("err.request.forbidden", "the token lacks a status scope"), 403)
    factory = _factory(request)

    def answer() -> JSONResponse:
        try:
            with unit_of_work(factory) as session:
                return _json(read(session, _sender(session, grant)))
        except _Forbidden as error:
            return _json(unauthorized("err.request.forbidden", error.message), 403)
        except Exception:
            log.exception("G2P Connect poll from %s failed", grant.sender_id)
            return _json(ack("ERR", None, "err.service.unavailable", "try again later"))

    return await run_in_threadpool(answer)


@router.get("/disburse/search/{transaction_id}/{summary_only}")
async def poll_transaction(
    request: Request, transaction_id: str, summary_only: str
) -> JSONResponse:
    """0.1 polling: a transaction's records (``summary_only=true``: only the counts)."""
    only = summary_only.strip().lower() in ("true", "1", "yes")
    return await _poll(
        request, lambda s, sender: queries.poll_transaction(s, sender, transaction_id, only)
    )


@router.get("/disburse/search/{reference_id}")
async def poll_reference(request: Request, reference_id: str) -> JSONResponse:
    """0.1 polling: one record by its reference_id."""
    return await _poll(request, lambda s, sender: queries.poll_reference(s, sender, reference_id))
