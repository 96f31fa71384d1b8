"""Lists as tables: sorted by an indexed column, counted, paged both ways, fast at 1,000,000 rows.

A list declares the orders it can be read in (:class:`Sorting`); each order is a tuple of
columns whose last one is unique, and an index serves it. A page is read from a key, never by
skipping rows (no OFFSET):

- the first page reads the order from its start; ``next`` reads it after the last key of a page;
- ``previous`` reads the *reversed* order from the first key of a page, then turns the rows
  around; ``last`` reads the reversed order from its end. An index is walked as well backwards
  as forwards, so every page costs the same.

Cursors carry the order they were made in (``["-created", "0192…"]``), so a cursor from another
order is refused instead of giving a page of the wrong rows. Counts read at most
``COUNT_CAP + 1`` rows: exact below the cap, "more than ``COUNT_CAP``" above it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.pagination import (
    DEFAULT_LIMIT,
    Page,
    check_limit,
    decode_cursor,
    encode_cursor,
)

T = TypeVar("T")
COUNT_CAP = 10_000

Reader = Callable[[Any], Any]


class Direction(StrEnum):
    """Which way a cursor is followed: after its key (``next``) or before it (``prev``)."""

    NEXT = "next"
    PREV = "prev"


class Jump(StrEnum):
    """A page named by its place instead of a cursor."""

    FIRST = "first"
    LAST = "last"


@dataclass(frozen=True)
class Order:
    """One order of a list: its URL key, its columns (the last one unique) and how to read each
    column's value back from a cursor (``keyset.as_uuid``...)."""

    key: str
    columns: tuple[InstrumentedAttribute[Any], ...]
    readers: tuple[Reader, ...]

    def values(self, row: Any) -> list[Any]:
        """The row's key in this order, as JSON-able values."""
        return [_plain(getattr(row, column.key)) for column in self.columns]


@dataclass(frozen=True)
class Sort:
    """An order and its direction; ``text`` is its URL form (``-created``: newest first)."""

    order: Order
    descending: bool

    @property
    def text(self) -> str:
        return ("-" if self.descending else "") + self.order.key


@dataclass(frozen=True)
class Sorting:
    """The orders a list offers, and the one used when none is asked for (``-created``)."""

    orders: tuple[Order, ...]
    default: str

    def keys(self) -> list[str]:
        return [order.key for order in self.orders]

    def choose(self, text: str | None) -> Sort:
        """The sort ``text`` names (``key`` or ``-key``); ValidationFailed on ``sort`` when the
        list cannot be sorted that way (no index serves it)."""
        wanted = (text or "").strip() or self.default
        key = wanted.removeprefix("-")
        for order in self.orders:
            if order.key == key:
                return Sort(order, wanted.startswith("-"))
        reason = _("{key!r} is not a column this list sorts by; it sorts by {keys}").format(
            key=key, keys=", ".join(self.keys())
        )
        raise ValidationFailed(reason, [FieldError("sort", reason)])


@dataclass(frozen=True)
class PageRequest:
    """Which page of a list: the sort, and a cursor with its direction or a jump (first, last)."""

    sort: str | None = None
    cursor: str | None = None
    direction: Direction = Direction.NEXT
    jump: Jump | None = None
    limit: int = DEFAULT_LIMIT

    def sized(self, limit: int) -> PageRequest:
        """The same request with another page size (the pages' own)."""
        return PageRequest(self.sort, self.cursor, self.direction, self.jump, limit)


@dataclass(frozen=True)
class Count:
    """How many rows a list has: exact, or at least ``value`` (``exact`` False: "more than")."""

    value: int
    exact: bool


@dataclass(frozen=True)
class TablePage(Page[T]):
    """A page of a table: ``previous_cursor`` (None on the first page) beside ``next_cursor``,
    the sort in force (URL form), the column keys the list sorts by, and the list's count."""

    previous_cursor: str | None = None
    sort: str = ""
    sorts: tuple[str, ...] = ()
    count: Count | None = None


def read_page(
    session: Session,
    query: Select[tuple[T]],
    sorting: Sorting,
    request: PageRequest,
    *,
    count: Select[Any] | None = None,
) -> TablePage[T]:
    """One page of ``query`` as ``request`` asks; ``count`` (a select of the same rows' ids)
    is counted up to the cap."""
    check_limit(request.limit)
    sort = sorting.choose(request.sort)
    key = None if request.jump is not None else _read_cursor(request.cursor, sort)
    backwards = request.jump is Jump.LAST or (
        key is not None and request.direction is Direction.PREV
    )
    rows = _fetch(session, query, sort, key, backwards, request.limit)
    more = len(rows) > request.limit
    items = rows[: request.limit]
    if backwards:
        items.reverse()
        if key is not None and not more:  # back at the start: show a full first page
            return read_page(session, query, sorting, _first(request), count=count)
    if backwards:  # a page before another (previous), or the last page
        has_next, has_previous = request.jump is not Jump.LAST, more
    else:
        has_next, has_previous = more, key is not None
    if not items:
        has_next = has_previous = False
    return TablePage(
        items=items,
        next_cursor=_cursor(sort, items[-1]) if has_next else None,
        limit=request.limit,
        previous_cursor=_cursor(sort, items[0]) if has_previous else None,
        sort=sort.text,
        sorts=tuple(sorting.keys()),
        count=count_rows(session, count) if count is not None else None,
    )


def count_rows(session: Session, query: Select[Any], cap: int | None = None) -> Count:
    """How many rows ``query`` gives, reading at most ``cap + 1`` of them (``COUNT_CAP``)."""
    cap = COUNT_CAP if cap is None else cap
    capped = query.order_by(None).limit(cap + 1).subquery()
    found = session.scalar(select(func.count()).select_from(capped)) or 0
    return Count(value=min(found, cap), exact=found <= cap)


def _first(request: PageRequest) -> PageRequest:
    return PageRequest(request.sort, None, Direction.NEXT, Jump.FIRST, request.limit)


def _fetch(
    session: Session,
    query: Select[tuple[T]],
    sort: Sort,
    key: list[Any] | None,
    backwards: bool,
    limit: int,
) -> list[T]:
    descending = sort.descending != backwards
    columns = sort.order.columns
    if key is not None:
        query = query.where(_beyond(columns, key, descending))
    ordered = [column.desc() if descending else column.asc() for column in columns]
    return list(session.scalars(query.order_by(*ordered).limit(limit + 1)))


def _beyond(
    columns: Sequence[InstrumentedAttribute[Any]], key: Sequence[Any], descending: bool
) -> ColumnElement[bool]:
    """Rows after ``key`` in the order; a plain bound on the leading column first, so that
    the index range itself starts at the key (a row comparison alone would only filter)."""
    first, value = columns[0], key[0]
    past: ColumnElement[bool] = first < value if descending else first > value
    if len(columns) == 1:
        return past
    reached = first <= value if descending else first >= value
    return and_(reached, or_(past, and_(first == value, _beyond(columns[1:], key[1:], descending))))


def _cursor(sort: Sort, row: Any) -> str:
    return encode_cursor([sort.text, *sort.order.values(row)])


def _read_cursor(cursor: str | None, sort: Sort) -> list[Any] | None:
    if not cursor:
        return None
    readers = sort.order.readers
    raw = decode_cursor(cursor, len(readers) + 1)
    if raw[0] != sort.text:
        reason = _("made for another sort order; start again from the first page")
        raise ValidationFailed(_("invalid cursor"), [FieldError("cursor", reason)])
    try:
        return [read(value) for read, value in zip(readers, raw[1:], strict=True)]
    except (TypeError, ValueError, AttributeError):
        reason = _("not a cursor from a previous page")
        raise ValidationFailed(_("invalid cursor"), [FieldError("cursor", reason)]) from None


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
