"""The parameters and the answer of every list read as a table (``tables.py``), API and pages.

``sort`` names a column (``-`` first: descending); ``cursor`` with ``dir`` (``next``, ``prev``)
follows a page's ``next_cursor`` or ``previous_cursor``; ``page=first|last`` jumps to an end.
The answer carries both cursors and the count: exact, or a lower bound when ``exact`` is false.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.tables import Direction, Jump, PageRequest, TablePage

T = TypeVar("T")
E = TypeVar("E", Direction, Jump)


def page_request(
    sort: Annotated[
        str | None,
        Query(max_length=40, description="A column to sort by; '-' first for descending"),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(max_length=1000, description="The next_cursor or previous_cursor of a page"),
    ] = None,
    dir: Annotated[str | None, Query(max_length=10, description="next (default) or prev")] = None,
    page: Annotated[str | None, Query(max_length=10, description="first or last")] = None,
) -> PageRequest:
    """The page a request asks for (its size is set by the caller: ``sized``)."""
    return PageRequest(
        sort=sort or None,
        cursor=cursor or None,
        direction=_choice(Direction, dir, "dir") or Direction.NEXT,
        jump=_choice(Jump, page, "page"),
    )


Paging = Annotated[PageRequest, Depends(page_request)]


def _choice(kind: type[E], text: str | None, field: str) -> E | None:
    if not text:
        return None
    try:
        return kind(text.strip())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        reason = _("{value!r} is not one of {allowed}").format(value=text, allowed=allowed)
        raise ValidationFailed(_("invalid page"), [FieldError(field, reason)]) from None


class CountPublic(BaseModel):
    """How many items the list has: ``value`` exactly, or more than ``value`` when ``exact``
    is false (counting stops there, so that no answer reads a million rows)."""

    value: int
    exact: bool


class TablePublic(BaseModel, Generic[T]):
    """A page of a list: pass ``next_cursor`` (with ``dir=next``) or ``previous_cursor`` (with
    ``dir=prev``) as ``cursor`` for the pages around it; null at either end."""

    items: list[T]
    next_cursor: str | None = None
    previous_cursor: str | None = None
    sort: str = ""
    count: CountPublic | None = None


def table_of(items: list[Any], page: TablePage[Any]) -> dict[str, Any]:
    """A service's table page, with ``items`` already answered, as a ``TablePublic`` body."""
    count = page.count
    return {
        "items": items,
        "next_cursor": page.next_cursor,
        "previous_cursor": page.previous_cursor,
        "sort": page.sort,
        "count": {"value": count.value, "exact": count.exact} if count is not None else None,
    }
