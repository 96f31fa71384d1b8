"""Writing a cycle's new batches, and the lock that keeps their writers one at a time.

Prepare (payments made and batched together) and batching (payments issued without a batch,
``payments.batching``) both pack payments with ``packing.BatchPacker`` and store the batches
they closed here. Both lock the cycle first, as does cancelling (``payments.cancel``): so
batch sequences never collide and a payment is never batched twice or batched while cancelled.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from g2p_payment_phee.bulk import bulk_insert
from g2p_payment_phee.errors import BusinessRuleViolation
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.packing import PackedBatch
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import CycleState

BATCH_COLUMNS = (
    "id", "sequence", "name", "correlation_id", "currency", "file_name", "csv_data",
    "csv_sha256", "csv_size", "issued_count", "issued_amount", "callback_token_hash",
)  # fmt: skip
ZERO_BATCH_COUNTERS = {
    "sent_count": 0, "sent_amount": Decimal(0), "paid_count": 0, "paid_amount": Decimal(0),
    "failed_count": 0, "failed_amount": Decimal(0), "send_attempts": 0,
}  # fmt: skip

CallbackTokenHashes = Callable[[Sequence[uuid.UUID]], Mapping[uuid.UUID, str]]


def lock_approved_cycle(session: Session, cycle: Cycle) -> None:
    """Serialise the writers of a cycle's payments and batches (a row lock on PostgreSQL, the
    write lock on SQLite); BusinessRuleViolation if the cycle is no longer approved."""
    session.execute(
        update(Cycle)
        .where(Cycle.id == cycle.id)
        .values(state=Cycle.state)
        .execution_options(synchronize_session=False)
    )
    state = session.scalar(select(Cycle.state).where(Cycle.id == cycle.id))
    if state is not CycleState.APPROVED:
        raise BusinessRuleViolation(
            _("cycle {name!r} became {state} meanwhile").format(name=cycle.name, state=state)
        )


def store_batches(
    session: Session,
    cycle: Cycle,
    batches: Sequence[PackedBatch],
    *,
    now: datetime,
    file_name_prefix: str,
    store_file: bool,
    token_hashes: CallbackTokenHashes,
) -> None:
    """Insert closed batches, ``prepared``, with their issued totals (and their files when
    ``store_file``; otherwise each is rendered from its payments when first needed)."""
    if not batches:
        return
    ids = [uuid.UUID(batch.name) for batch in batches]
    tokens = token_hashes(ids)
    rows = []
    for batch_id, batch in zip(ids, batches, strict=True):
        data, sha256 = None, None
        if store_file:
            stored = batch.rendered()
            data, sha256 = stored.data, stored.sha256
        rows.append(
            (batch.name, batch.sequence, batch.name, str(uuid.uuid4()), batch.currency,
             f"{file_name_prefix}{batch.name}.csv", data, sha256, batch.size,
             batch.count, batch.amount, tokens.get(batch_id))
        )  # fmt: skip
    fixed = {
        "created_at": now,
        "cycle_id": cycle.id,
        "state": BatchState.PREPARED,
        **ZERO_BATCH_COUNTERS,
    }
    bulk_insert(session, PaymentBatch.__table__, BATCH_COLUMNS, rows, fixed=fixed)
