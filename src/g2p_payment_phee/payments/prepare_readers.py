"""What preparation reads: a cycle's payable entitlements with their payee values, a page at a
time, in entitlement order (SPEC 3.2).

One ordered query per page yields every payable entitlement with its payee identifier already
picked by the database. Values come back as text, as the database writes them (ids, amounts),
ready to be written again without conversions. Pages are read in keysets (``Entitlement.id >
last``), so no cursor stays open across the writes between them, or, on PostgreSQL when the
transaction has written nothing yet, one page ahead on a connection of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from sqlalchemy import Select, String, cast, exists, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from g2p_payment_phee.bulk import raw
from g2p_payment_phee.payments.models import IS_FAILED, IS_LIVE, Payment, PaymentBatch
from g2p_payment_phee.payments.payees import PayeeOption, PayeeRule
from g2p_payment_phee.payments.states import PaymentStatus
from g2p_payment_phee.programs.models import Cycle, Entitlement
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.registry.models import (
    BankAccount,
    IdStatus,
    IdType,
    Phone,
    Registrant,
    RegistrantId,
)

PAGE_ROWS = 20_000

# One page row: (entitlement id, code, registrant id, amount, fee, currency, raw payee value).
PayableRow = tuple[str, str, str, str, str, str, str | None]
Pages = Generator[Sequence[PayableRow], None, None]


def payable_count(session: Session, cycle: Cycle) -> int:
    """How many approved entitlements have no live payment (for progress bars)."""
    query = select(func.count()).where(
        Entitlement.cycle_id == cycle.id,
        Entitlement.state == EntitlementState.APPROVED,
        ~has_live_payment(),
    )
    return int(session.scalar(query) or 0)


def count_already_paid(session: Session, cycle: Cycle) -> int:
    """How many approved entitlements already have a live payment."""
    query = select(func.count()).where(
        Entitlement.cycle_id == cycle.id,
        Entitlement.state == EntitlementState.APPROVED,
        has_live_payment(),
    )
    return int(session.scalar(query) or 0)


def last_batch_sequence(session: Session, cycle_id: uuid.UUID) -> int:
    """The highest sequence of the cycle's batches so far (0 when it has none)."""
    query = select(func.max(PaymentBatch.sequence)).where(PaymentBatch.cycle_id == cycle_id)
    return int(session.scalar(query) or 0)


def has_live_payment(after: uuid.UUID | None = None) -> Any:
    """Whether the entitlement has a live payment (SPEC 2.3)."""
    # ``live`` is the predicate of the unique index: the probe reads that index only. ``after``
    # repeats the page's keyset bound on the payments side: PostgreSQL does not carry it over
    # the join, and without it a merge anti-join would read every payment made so far on each
    # page (pages are read in entitlement order, so the payments this run made are all behind).
    live = exists().where(Payment.entitlement_id == Entitlement.id, IS_LIVE)
    return live if after is None else live.where(Payment.entitlement_id > after)


def payable_pages(
    connection: Connection, cycle_id: uuid.UUID, rule: PayeeRule, *, only_failed: bool
) -> Pages:
    """The payable entitlements (``PayableRow``), in entitlement order, in keyset pages;
    ``only_failed``: only those whose every payment failed."""
    if connection.dialect.name == "postgresql":
        # Planned for the whole page, not for its first rows; each page is a short query that
        # JIT compilation would only slow down.
        connection.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
        connection.execute(text("SET LOCAL jit = off"))
    after: uuid.UUID | None = None
    while True:
        query = _payable_query(cycle_id, rule, after)
        if only_failed:
            # failed, not cancelled (both are not live; a cancelled one waits for prepare)
            failed = exists().where(
                Payment.entitlement_id == Entitlement.id,
                IS_FAILED,
                Payment.status == PaymentStatus.FAILED,
            )
            query = query.where(failed)
        if after is not None:
            query = query.where(Entitlement.id > after)
        rows: Sequence[Any] = connection.execute(query.limit(PAGE_ROWS)).tuples().all()
        if not rows:
            return
        yield rows
        after = uuid.UUID(str(rows[-1][0]))


def sees_only_committed_data(session: Session) -> bool:
    """Whether another connection would read what this transaction reads: PostgreSQL, read
    committed, and nothing written in this transaction yet (no transaction id assigned)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return False
    query = (
        "SELECT pg_current_xact_id_if_assigned() IS NULL "
        "AND current_setting('transaction_isolation') = 'read committed'"
    )
    return bool(connection.exec_driver_sql(query).scalar())


def pages_read_aside(
    session: Session, cycle_id: uuid.UUID, rule: PayeeRule, *, only_failed: bool
) -> Pages:
    """The pages read on a connection of their own, one page ahead, while this transaction
    writes the previous one: the database looks up payees while Python places payments.

    Only for a transaction that had written nothing before it locked the cycle
    (``sees_only_committed_data``): the other connection then sees the same entitlements, and
    the payments this transaction adds are all behind the page being read. Prepares of one
    cycle stay serialised by the cycle's lock."""
    bind = session.get_bind()
    assert isinstance(bind, Engine)
    with bind.connect() as reader, ThreadPoolExecutor(1, "prepare-reader") as pool:
        # Every step of a page is an index probe; planned while this transaction's COPY has
        # only begun, the payments probe could otherwise become a scan per entitlement.
        reader.execute(text("SET LOCAL enable_seqscan = off"))
        pages = payable_pages(reader, cycle_id, rule, only_failed=only_failed)
        ahead: Future[Sequence[PayableRow] | None] = pool.submit(next, pages, None)
        try:
            while (rows := ahead.result()) is not None:
                ahead = pool.submit(next, pages, None)
                yield rows
        finally:
            ahead.cancel()
            wait([ahead])
            pages.close()


def registrant_references(session: Session, ids: Collection[Any]) -> dict[uuid.UUID, str]:
    """The references of these registrants (ids as UUIDs or as read in a page)."""
    wanted = {uuid.UUID(str(rid)) for rid in ids}
    query = select(Registrant.id, Registrant.reference).where(Registrant.id.in_(wanted))
    return dict(session.execute(query).tuples().all())


_ENTITLEMENT_COLUMNS = (
    raw(cast(Entitlement.id, String)),
    Entitlement.code,
    raw(cast(Entitlement.registrant_id, String)),
    raw(cast(Entitlement.initial_amount, String)),
    raw(cast(Entitlement.transfer_fee, String)),
    Entitlement.currency,
)


def _payable_query(cycle_id: uuid.UUID, rule: PayeeRule, after: uuid.UUID | None) -> Select[Any]:
    """One page's query: the entitlements in id order from the cycle's index, each one's payee
    value probed by key. (Registrants are not joined: PostgreSQL may hash the whole registry for
    every page, quadratic at a million; the few skipped rows get their reference afterwards.)"""
    E = Entitlement
    return (
        select(*_ENTITLEMENT_COLUMNS, _payee_value(rule))
        .where(
            E.cycle_id == cycle_id,
            E.state == EntitlementState.APPROVED,
            ~has_live_payment(after),
        )
        .order_by(E.id)
    )


def _payee_value(rule: PayeeRule) -> Any:
    """Each registrant's payee value as a correlated lookup (an index probe per entitlement)."""
    owner = Entitlement.registrant_id
    if rule.option is PayeeOption.EMAIL:
        return select(Registrant.email).where(Registrant.id == owner).scalar_subquery()
    if rule.option is PayeeOption.REGISTRANT_ID:
        return (
            select(RegistrantId.value)
            .join(IdType, IdType.id == RegistrantId.id_type_id)
            .where(
                RegistrantId.registrant_id == owner,
                IdType.name == rule.id_type_name,
                RegistrantId.status == IdStatus.VALID,
            )
            .scalar_subquery()
        )
    if rule.option is PayeeOption.PHONE:
        first = select(Phone.number).where(
            Phone.registrant_id == owner, Phone.disabled_at.is_(None)
        )
        return first.order_by(Phone.sequence, Phone.id).limit(1).scalar_subquery()
    column = BankAccount.iban if rule.option is PayeeOption.IBAN else BankAccount.account_number
    account = select(column).where(BankAccount.registrant_id == owner, BankAccount.active.is_(True))
    return account.order_by(BankAccount.sequence, BankAccount.id).limit(1).scalar_subquery()
