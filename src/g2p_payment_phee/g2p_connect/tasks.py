"""The intake job: a received transaction taken into the domain, then, for a sender that
auto-approves, approved, prepared and sent through the program's payment manager.

Each step commits on its own, so a step that cannot go on (the budget refuses the approval,
the manager cannot prepare) leaves the earlier ones done and says why on the transaction
(``intake_error``); the cycle then waits for people like any other. Prepare and send run here
one after the other, as the same services their own jobs call (a send job submitted beside a
prepare job could start before the preparation committed). Running the job again is harmless:
taken-in records are skipped, an approved cycle is not approved again, prepare pays no
entitlement twice and send sends only what is sendable. The sweep syncs the results.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from g2p_payment_phee.background import Work
from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.errors import FieldError, G2PError, NotFound, ValidationFailed
from g2p_payment_phee.g2p_connect import service
from g2p_payment_phee.g2p_connect.models import G2PConnectTransaction
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User

INTAKE_ATTEMPTS = 3


def intake_params(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    """An intake: the received transaction's id, checked."""
    try:
        txn_id = uuid.UUID(str(params.get("txn_id")))
    except ValueError:
        raise ValidationFailed(
            "invalid job parameters: txn_id", [FieldError("txn_id", "a transaction id")]
        ) from None
    if session.get(G2PConnectTransaction, txn_id) is None:
        raise NotFound(f"no G2P Connect transaction {txn_id}")
    return {"txn_id": str(txn_id)}


def take_in(work: Work) -> dict[str, Any]:
    """Take the transaction in; approve, prepare and send it when its sender auto-approves."""
    txn_id = work.uuid("txn_id")
    work.progress(0, None, "taking the G2P Connect transaction in", flush=True)
    intake = _take_in(work, txn_id)
    result: dict[str, Any] = {
        "cycle_id": str(intake.cycle_id) if intake.cycle_id else None,
        "entitlements": intake.entitlements,
        "registrants_created": intake.registrants_created,
        "rejected": intake.rejected,
        "message": f"{intake.entitlements} entitlements, {intake.rejected} records rejected",
    }
    if intake.cycle_id is None:
        return result
    try:
        paid = _pay(work, txn_id, intake.cycle_id)
    except G2PError as error:
        with unit_of_work(work.factory) as session:
            service.note_problem(session, txn_id, error.message)
        result["stopped"] = error.message
        return result
    result.update(paid)
    return result


def _take_in(work: Work, txn_id: uuid.UUID) -> service.Intake:
    """The intake in one transaction, run again when a concurrent intake of another
    transaction created the same registrant first (a unique reference); a problem that stays
    is kept on the transaction, and fails the job."""
    for attempt in range(1, INTAKE_ATTEMPTS + 1):
        try:
            with unit_of_work(work.factory) as session:
                return service.take_in(session, txn_id)
        except IntegrityError:
            if attempt == INTAKE_ATTEMPTS:
                raise
        except G2PError as error:
            with unit_of_work(work.factory) as session:
                service.note_problem(session, txn_id, error.message)
            raise
    raise AssertionError("unreachable")


def _pay(work: Work, txn_id: uuid.UUID, cycle_id: uuid.UUID) -> dict[str, Any]:
    with unit_of_work(work.factory) as session:
        user = service.approve(session, txn_id)
        user_id = user.id if user is not None else None
    if user_id is None:
        return {"approved": False}
    work.progress(0, None, "preparing the payments", flush=True)
    with unit_of_work(work.factory) as session:
        actor = _user(session, user_id)
        cycle = session.get(Cycle, cycle_id)
        if cycle is None:
            raise NotFound(f"no cycle {cycle_id}")
        report = payments.prepare_cycle(session, actor, cycle)
    work.progress(0, None, "sending the payments", flush=True)
    with unit_of_work(work.factory) as session:
        actor = _user(session, user_id)
    sent = payments.send_cycle(work.factory, actor, cycle_id)
    return {
        "approved": True,
        "payments": report.created,
        "batches": report.batches,
        "sent_batches": len(sent.results),
    }


def _user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user
