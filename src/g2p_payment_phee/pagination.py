"""Keyset pagination shared by the API and the pages: stays fast at a million rows.

A list is ordered by a unique key; the next page starts after the last key seen, carried as
an opaque cursor (URL-safe base64 of JSON), so no page ever makes the database skip rows.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is None on the last page."""

    items: list[T]
    next_cursor: str | None = None
    limit: int = DEFAULT_LIMIT
    extra: dict[str, Any] = field(default_factory=dict)


def encode_cursor(key: list[Any]) -> str:
    """An opaque cursor for the last key of a page (strings, numbers, None)."""
    raw = json.dumps(key, separators=(",", ":"), default=str).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    """The key a cursor carries; ValidationFailed when it was not made by ``encode_cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        key = None
    if not isinstance(key, list) or len(key) != length:
        raise ValidationFailed(
            _("invalid cursor"), [FieldError("cursor", _("not a cursor from a previous page"))]
        )
    return key


def check_limit(limit: int) -> int:
    """A page size within 1..MAX_LIMIT, or ValidationFailed."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            _("invalid page size"),
            [
                FieldError(
                    "limit", _("must be between 1 and {MAX_LIMIT}").format(MAX_LIMIT=MAX_LIMIT)
                )
            ],
        )
    return limit
