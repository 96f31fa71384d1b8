"""Typed keys for keyset pages: read a cursor back into the values of its sort key.

``pagination.py`` makes cursors opaque; the listing services use these readers so that a cursor
tampered with (or from another list) is a ``ValidationFailed`` on ``cursor``, never a crash or a
query on garbage. ``page_from_rows`` turns ``limit + 1`` fetched rows into a ``Page``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.pagination import Page, decode_cursor, encode_cursor

T = TypeVar("T")


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(
        _("invalid cursor"), [FieldError("cursor", _("not a cursor from a previous page"))]
    )


def read_cursor(cursor: str | None, *readers: Callable[[Any], Any]) -> list[Any] | None:
    """The cursor's key, each part parsed by its reader; None for the first page."""
    if cursor is None:
        return None
    raw = decode_cursor(cursor, len(readers))
    try:
        return [read(value) for read, value in zip(readers, raw, strict=True)]
    except (TypeError, ValueError, AttributeError):
        raise _bad_cursor() from None


def as_uuid(value: Any) -> uuid.UUID:
    """A UUID part of a key."""
    return uuid.UUID(str(value)) if isinstance(value, str) else _fail()


def as_int(value: Any) -> int:
    """An integer part of a key (booleans are not integers here)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else _fail()


def as_str(value: Any) -> str:
    """A text part of a key."""
    return value if isinstance(value, str) else _fail()


def as_utc(value: Any) -> datetime:
    """A timestamp part of a key (ISO text), timezone-aware UTC."""
    moment = datetime.fromisoformat(as_str(value))
    if moment.tzinfo is None:
        raise ValueError("naive timestamp in a cursor")
    return moment.astimezone(UTC)


def as_date(value: Any) -> date:
    """A calendar-date part of a key (ISO text)."""
    return date.fromisoformat(as_str(value))


def _fail() -> Any:
    raise ValueError("unexpected cursor value")


def page_from_rows(rows: Sequence[T], limit: int, key: Callable[[T], list[Any]]) -> Page[T]:
    """A page from up to ``limit + 1`` rows: the extra row only says that a next page exists."""
    items = list(rows[:limit])
    more = len(rows) > limit
    next_cursor = encode_cursor(key(items[-1])) if more and items else None
    return Page(items=items, next_cursor=next_cursor, limit=limit)
