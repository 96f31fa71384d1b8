"""The batch packer, with no database: whatever the payments and limits, every payment lands in
exactly one batch, in order; no batch passes its row or byte limit (a line too long for the
byte limit alone gets a batch of its own) nor is closed while the next payment would fit; each
batch holds one currency and its total; and its file parses back to its payments."""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from g2p_payment_phee.payments.default_manager import ManualCsvFormat
from g2p_payment_phee.payments.files import BatchFileFormat
from g2p_payment_phee.payments.packing import BatchPacker, PackedBatch, PackRow, pack
from g2p_payment_phee.phee.csvfile import PheeCsvFormat

FORMATS: list[BatchFileFormat] = [
    PheeCsvFormat("mojaloop", "MSISDN", "254700000001", "Program: Relief. Cycle ID - C1"),
    ManualCsvFormat("Relief C1 – août"),  # a note that is not ASCII
]
FIRST_INDEX = {PheeCsvFormat: 0, ManualCsvFormat: 1}  # the formats' first row number
PAYEE_TYPE = "MSISDN"
# Payee values as preparation lets them through: no comma, quote or line break; some not ASCII.
payees = st.text(
    st.characters(codec="utf-8", exclude_characters=',"\r\n'),
    min_size=1,
    max_size=40,
)
amounts = st.integers(min_value=1, max_value=10**9).map(Decimal)


@st.composite
def payment_rows(draw: st.DrawFn) -> list[PackRow]:
    """Payments in runs of one currency (a cycle has one; the packer splits on a change)."""
    rows: list[PackRow] = []
    for index in range(draw(st.integers(0, 60))):
        currency = draw(st.sampled_from(["KES", "KES", "KES", "USD"])) if index % 7 == 0 else ""
        currency = currency or (rows[-1].currency if rows else "KES")
        amount = draw(amounts)
        request_id = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
        rows.append(PackRow(request_id, draw(payees), str(amount), currency, amount))
    return rows


def _names() -> Callable[[], str]:
    counter = iter(range(1, 10**9))
    return lambda: str(uuid.UUID(int=next(counter)))


# Timing says nothing here, and this machine is shared: no deadline, no slowness check.
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
limits = st.tuples(st.integers(1, 12), st.integers(150, 2500))  # rows, bytes


def _pack(rows: list[PackRow], fmt: BatchFileFormat, limit: tuple[int, int]) -> list[PackedBatch]:
    max_rows, max_bytes = limit
    return pack(rows, fmt, PAYEE_TYPE, max_rows=max_rows, max_bytes=max_bytes, new_name=_names())


def _parsed(batch: PackedBatch, fmt: BatchFileFormat) -> list[list[str]]:
    """The batch's stored file read back as CSV: its header, then its rows."""
    data = batch.rendered().data
    assert not data.endswith(b"\n")
    assert b"\r" not in data
    table = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert table[0] == fmt.header.split(",")
    return table[1:]


def _as_fields(row: PackRow) -> tuple[str, str, str, str, str]:
    return (row.request_id, PAYEE_TYPE, row.payee_value, row.amount_text, row.currency)


def _fields(parsed: list[str], fmt: BatchFileFormat) -> tuple[str, str, str, str, str]:
    """request_id, payee type, payee, amount, currency of a parsed line of either format."""
    if isinstance(fmt, PheeCsvFormat):
        return (parsed[1], parsed[5], parsed[6], parsed[7], parsed[8])
    return (parsed[1], parsed[2], parsed[3], parsed[4], parsed[5])


@relaxed
@given(payment_rows(), st.sampled_from(FORMATS), limits)
def test_every_payment_is_in_one_batch_in_order_and_the_files_parse_back(
    rows: list[PackRow], fmt: BatchFileFormat, limit: tuple[int, int]
) -> None:
    batches = _pack(rows, fmt, limit)
    read_back: list[tuple[str, ...]] = []
    for batch in batches:
        parsed = _parsed(batch, fmt)
        assert len(parsed) == batch.count
        first = FIRST_INDEX[type(fmt)]
        assert [line[0] for line in parsed] == [str(first + i) for i in range(batch.count)]
        read_back.extend(_fields(line, fmt) for line in parsed)
    assert read_back == [_as_fields(row) for row in rows]
    assert all(batch.count for batch in batches)


@relaxed
@given(payment_rows(), st.sampled_from(FORMATS), limits)
def test_batches_keep_their_limits_and_know_their_size(
    rows: list[PackRow], fmt: BatchFileFormat, limit: tuple[int, int]
) -> None:
    max_rows, max_bytes = limit
    for batch in _pack(rows, fmt, limit):
        assert batch.count <= max_rows
        assert batch.size == len(batch.rendered().data)
        assert batch.size <= max_bytes or batch.count == 1  # a line too long on its own


@relaxed
@given(payment_rows(), st.sampled_from(FORMATS), limits)
def test_no_batch_is_closed_while_the_next_payment_fits(
    rows: list[PackRow], fmt: BatchFileFormat, limit: tuple[int, int]
) -> None:
    max_rows, max_bytes = limit
    batches = _pack(rows, fmt, limit)
    start = 0
    for batch, following in pairwise(batches):
        start += batch.count
        nxt = rows[start]
        line = fmt.line(batch.count, nxt.request_id, PAYEE_TYPE, *_as_fields(nxt)[2:])
        assert (
            batch.count == max_rows
            or batch.size + 1 + len(line.encode()) > max_bytes
            or nxt.currency != batch.currency
        )
        assert following.currency == nxt.currency


@relaxed
@given(payment_rows(), st.sampled_from(FORMATS), limits, st.integers(0, 1000))
def test_totals_per_batch_and_per_currency_are_the_sums_of_the_payments(
    rows: list[PackRow], fmt: BatchFileFormat, limit: tuple[int, int], last_sequence: int
) -> None:
    max_rows, max_bytes = limit
    batches = pack(
        rows,
        fmt,
        PAYEE_TYPE,
        max_rows=max_rows,
        max_bytes=max_bytes,
        new_name=_names(),
        last_sequence=last_sequence,
    )
    assert [b.sequence for b in batches] == list(
        range(last_sequence + 1, last_sequence + 1 + len(batches))
    )
    assert len({b.name for b in batches}) == len(batches)
    start = 0
    for batch in batches:
        mine = rows[start : start + batch.count]
        start += batch.count
        assert {row.currency for row in mine} == {batch.currency}
        assert batch.amount == sum((row.amount for row in mine), Decimal(0))
    per_currency: defaultdict[str, Decimal] = defaultdict(Decimal)
    expected: defaultdict[str, Decimal] = defaultdict(Decimal)
    for batch in batches:
        per_currency[batch.currency] += batch.amount
    for row in rows:
        expected[row.currency] += row.amount
    assert per_currency == expected


@relaxed
@given(
    payment_rows(),
    st.sampled_from(FORMATS),
    limits,
    st.sets(st.integers(0, 60)),
)
def test_taking_closed_batches_along_the_way_changes_nothing(
    rows: list[PackRow], fmt: BatchFileFormat, limit: tuple[int, int], pauses: set[int]
) -> None:
    """Preparation takes the closed batches at the end of every page."""
    max_rows, max_bytes = limit
    packer = BatchPacker(fmt, PAYEE_TYPE, max_rows=max_rows, max_bytes=max_bytes, new_name=_names())
    taken: list[PackedBatch] = []
    for index, row in enumerate(rows):
        if index in pauses:
            taken.extend(packer.take_closed())
        assert packer.place(*row) == packer.batch.count - 1
    taken.extend(packer.finish())
    assert taken == _pack(rows, fmt, limit)
    assert packer.finish() == []
