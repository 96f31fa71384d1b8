"""Duplicates at the hub (SPEC 2.3): every PHEE batch under our correlation ids, read.

A hub can hold one of our batches more than once: an upload stored after its client gave up
while a later attempt was accepted, or a proxy that stored it twice. A sync therefore reads the
hub's batch list once for the batches it syncs (and those whose last upload is recent enough for
a late store, see ``payments.resend.duplicate_watch_start``), and for each correlation id held
more than once reads the details of every PHEE batch under it: the payments completed in more
than one (or outside their own) are recorded from the hub's own records
(``payments.duplicates``). Nothing is guessed and nothing is moved: people decide what to do.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.db import unit_of_work
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.duplicates import (
    HubCompletion,
    record_duplicate_batches,
    record_hub_completions,
)
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.phee.client import PheeClient
from g2p_payment_phee.phee.errors import PheeError
from g2p_payment_phee.users.models import User

log = logging.getLogger(__name__)
LIST_PAGE = 500


@dataclass(frozen=True)
class _Watched:
    batch_id: uuid.UUID
    name: str
    correlation_id: str
    phee_batch_id: str
    known: tuple[str, ...]


def watch_duplicates(
    factory: sessionmaker[Session],
    actor: User | None,
    hub: PheeClient,
    batch_ids: Sequence[uuid.UUID],
) -> list[str]:
    """Look for the batches' duplicates at the hub; record what is found. Returns what people
    must read (duplicates found, or why the check could not be made)."""
    watched, since = _watched(factory, batch_ids)
    if not watched:
        return []
    try:
        listing = hub.list_batches(
            {w.correlation_id for w in watched}, since=since, page_size=LIST_PAGE
        )
    except PheeError as error:
        message = _(
            "the check for duplicates at PHEE could not read its batch list: {message}"
        ).format(message=error.message)
        log.warning(message)
        return [message]
    notes: list[str] = []
    for batch in watched:
        held = {b.phee_batch_id for b in listing.get(batch.correlation_id, [])}
        others = sorted((held | set(batch.known)) - {batch.phee_batch_id})
        if others:
            notes.extend(_record(factory, actor, hub, batch, others))
    return notes


def _watched(
    factory: sessionmaker[Session], batch_ids: Sequence[uuid.UUID]
) -> tuple[list[_Watched], datetime | None]:
    with unit_of_work(factory) as session:
        rows = session.execute(
            select(
                PaymentBatch.id,
                PaymentBatch.name,
                PaymentBatch.correlation_id,
                PaymentBatch.phee_batch_id,
                PaymentBatch.phee_duplicate_ids,
                PaymentBatch.created_at,
            ).where(PaymentBatch.id.in_(list(batch_ids)), PaymentBatch.phee_batch_id.is_not(None))
        ).all()
    watched = [_Watched(r[0], r[1], r[2], r[3], tuple(r[4] or ())) for r in rows]
    since = min((r[5] for r in rows), default=None)
    return watched, since


def _record(
    factory: sessionmaker[Session],
    actor: User | None,
    hub: PheeClient,
    batch: _Watched,
    others: list[str],
) -> list[str]:
    notes = [
        _(
            "batch {name}: PHEE holds it {count} times (as {phee_batch_id} and "
            "{others}): its payments may be paid twice; see status"
        ).format(
            name=batch.name,
            count=1 + len(others),
            phee_batch_id=batch.phee_batch_id,
            others=", ".join(others),
        )
    ]
    log.error(notes[0])
    completions: list[HubCompletion] = []
    for phee_id in [batch.phee_batch_id, *others]:
        try:
            completions.extend(_completions(hub, phee_id))
        except PheeError as error:
            notes.append(
                _("batch {name}: PHEE batch {phee_id} could not be read: {message}").format(
                    name=batch.name, phee_id=phee_id, message=error.message
                )
            )
    with unit_of_work(factory) as session:
        found = session.get(PaymentBatch, batch.batch_id)
        assert found is not None
        record_duplicate_batches(session, actor, found, others)
        record_hub_completions(session, actor, completions)
    return notes


def _completions(hub: PheeClient, phee_id: str) -> list[HubCompletion]:
    """The payments PHEE batch ``phee_id`` completed, by request_id."""
    found = []
    for transfer in hub.batch_details(phee_id):
        if not transfer.is_completed:
            continue
        payment_id = _uuid(transfer.client_correlation_id)
        if payment_id is not None:
            found.append(
                HubCompletion(
                    payment_id,
                    phee_id,
                    transfer.amount,
                    transfer.transaction_id,
                    transfer.completed_at,
                )
            )
    return found


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip().strip('"'))
    except ValueError:
        return None
