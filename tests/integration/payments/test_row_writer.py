"""The one bulk writer (``bulk.RowWriter``) on the payments tables: whatever the values (text
holding COPY's separators, escapes or ``\\N``, NULLs, ids as UUIDs or as text with or without
hyphens, Decimal or text amounts, timestamps, bytes), what is read back is what was written,
on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.bulk import bulk_insert, bulk_insert_dicts
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus

TRICKY = ["\\N", "\\", "\t", "\n", "\r\n", "a\\tb", "NULL", "", " ", 'é,"x"', "\\\\N\t"]
texts = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
)
maybe_texts = st.one_of(st.none(), texts)
# Up to 13 digits: SQLite keeps amounts as floats, exact to 15.
amounts = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**9), places=4)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def payment_rows(draw: st.DrawFn, plain: bool) -> dict[str, Any]:
    """One payment row; ids and amounts in any form the writer takes. ``plain``: only text,
    numbers and NULLs, as raw reads give them."""
    pid = uuid.uuid4()
    forms: list[Callable[[uuid.UUID], Any]] = [str, lambda u: u.hex]
    form = draw(st.sampled_from(forms if plain else [*forms, lambda u: u]))
    failed = draw(st.booleans())
    amount = draw(amounts)
    state, status = (
        (PaymentState.RECONCILED, PaymentStatus.FAILED) if failed else (PaymentState.ISSUED, None)
    )
    return {
        "id": form(pid),
        "entitlement_id": form(uuid.uuid4()),
        "registrant_id": str(uuid.uuid4()),
        "batch_id": draw(st.one_of(st.none(), st.uuids().map(form))),
        "batch_row": draw(st.one_of(st.none(), st.integers(0, 10**6))),
        "amount_issued": str(amount) if plain else draw(st.sampled_from([amount, str(amount)])),
        "payment_fee": "0" if plain else Decimal(0),
        "payee_id_value": draw(texts),
        "state": state.value if plain else state,
        "status": status and (status.value if plain else status),
        "live": int(not failed) if plain else not failed,
        "failure_reason": draw(maybe_texts),
        "phee_transaction_id": draw(st.one_of(st.none(), texts)),
        "settled_at": None if plain else draw(st.one_of(st.none(), moments)),
    }


blocks = st.booleans().flatmap(lambda plain: st.lists(payment_rows(plain), min_size=1, max_size=30))


def _read_back(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    names = ("payee_id_value", "failure_reason", "phee_transaction_id", "amount_issued",
             "batch_row", "settled_at", "live", "cycle_id", "currency", "created_at")  # fmt: skip
    query = select(Payment.id, *(getattr(Payment, n) for n in names)).where(Payment.id.in_(ids))
    return {row[0]: dict(zip(names, row[1:], strict=True)) for row in session.execute(query)}


def test_rows_read_back_as_written(session: Session) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(blocks, moments)
    def each(rows: list[dict[str, Any]], now: datetime) -> None:
        cycle_id = uuid.uuid4()
        fixed = {"created_at": now, "cycle_id": cycle_id, "currency": "KES",
                 "payee_id_type": "MSISDN"}  # fmt: skip
        columns = tuple(rows[0])
        try:
            count = bulk_insert(
                session, Payment.__table__, columns, [tuple(r.values()) for r in rows], fixed=fixed
            )
            assert count == len(rows)
            ids = [uuid.UUID(str(r["id"])) for r in rows]
            stored = _read_back(session, ids)
            for key, row in zip(ids, rows, strict=True):
                expected = {
                    "payee_id_value": row["payee_id_value"],
                    "failure_reason": row["failure_reason"],
                    "phee_transaction_id": row["phee_transaction_id"],
                    "amount_issued": Decimal(row["amount_issued"]),
                    "batch_row": row["batch_row"],
                    "settled_at": row["settled_at"],
                    "live": row["live"],
                    "cycle_id": cycle_id,
                    "currency": "KES",
                    "created_at": now,
                }
                assert stored[key] == expected
        finally:
            session.rollback()

    each()


def test_dict_rows_must_share_their_keys(session: Session) -> None:
    rows: list[dict[str, Any]] = [
        {"id": uuid.uuid4(), "created_at": datetime.now(UTC)},
        {"id": uuid.uuid4()},
    ]
    with pytest.raises(ValueError, match="same keys"):
        bulk_insert_dicts(session, Payment.__table__, rows)
    session.rollback()


def _payment(now: datetime, **values: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(), "created_at": now, "entitlement_id": uuid.uuid4(),
        "cycle_id": uuid.uuid4(), "registrant_id": uuid.uuid4(), "amount_issued": Decimal(5),
        "payment_fee": Decimal(0), "currency": "KES", "payee_id_type": "MSISDN",
        "payee_id_value": "254700000001", "state": PaymentState.ISSUED, "live": True, **values,
    }  # fmt: skip


def test_a_refused_row_fails_the_write_and_leaves_the_connection_usable(session: Session) -> None:
    now = datetime.now(UTC)
    good, refused = _payment(now), _payment(now, amount_issued=Decimal(-1))  # must be > 0
    with pytest.raises(Exception, match="amount_positive"):
        bulk_insert_dicts(session, Payment.__table__, [good, refused])
    session.rollback()
    assert session.scalar(select(Payment.id).where(Payment.id == good["id"])) is None
    assert bulk_insert_dicts(session, Payment.__table__, [good]) == 1
    assert session.scalar(select(Payment.id).where(Payment.id == good["id"])) == good["id"]
    session.rollback()


def test_an_error_while_rows_are_made_abandons_the_write(session: Session) -> None:
    """Rows already sent (a COPY under way on PostgreSQL) go with the rollback."""
    now = datetime.now(UTC)
    made: list[uuid.UUID] = []

    def rows() -> Any:
        for index in range(5000):
            if index == 4500:
                raise RuntimeError("the caller failed")
            row = _payment(now)
            made.append(row["id"])
            yield row

    with pytest.raises(RuntimeError, match="the caller failed"):
        bulk_insert_dicts(session, Payment.__table__, rows())
    session.rollback()
    assert session.scalar(select(Payment.id).where(Payment.id.in_(made[:10]))) is None
    assert bulk_insert_dicts(session, Payment.__table__, [_payment(now)]) == 1
    session.rollback()
