"""What the pages say about a table: its count in words ("1,234 payments", "more than 10,000
payments"), in the reader's language and number format."""

from __future__ import annotations

from collections.abc import Callable

from babel.numbers import format_decimal
from sqlalchemy.orm import Session

from g2p_payment_phee.i18n import _, babel_locale, ngettext
from g2p_payment_phee.registry import listing as registry_listing
from g2p_payment_phee.tables import Count


def _number(value: int) -> str:
    return format_decimal(value, locale=babel_locale())


def _payments(count: Count) -> str:
    if not count.exact:
        return _("more than {count} payments").format(count=_number(count.value))
    words = ngettext("{count} payment", "{count} payments", count.value)
    return words.format(count=_number(count.value))


def _entitlements(count: Count) -> str:
    if not count.exact:
        return _("more than {count} entitlements").format(count=_number(count.value))
    words = ngettext("{count} entitlement", "{count} entitlements", count.value)
    return words.format(count=_number(count.value))


def _registrants(count: Count) -> str:
    if not count.exact:
        return _("more than {count} registrants").format(count=_number(count.value))
    words = ngettext("{count} registrant", "{count} registrants", count.value)
    return words.format(count=_number(count.value))


def _events(count: Count) -> str:
    if not count.exact:
        return _("more than {count} events").format(count=_number(count.value))
    words = ngettext("{count} event", "{count} events", count.value)
    return words.format(count=_number(count.value))


def _jobs(count: Count) -> str:
    if not count.exact:
        return _("more than {count} jobs").format(count=_number(count.value))
    words = ngettext("{count} job", "{count} jobs", count.value)
    return words.format(count=_number(count.value))


# each list's words, spelt out so that the message extractor finds every one
COUNT_WORDS: dict[str, Callable[[Count], str]] = {
    "payments": _payments,
    "entitlements": _entitlements,
    "registrants": _registrants,
    "events": _events,
    "jobs": _jobs,
}


def search_note(session: Session, text: str) -> str:
    """What to say when a search names too many people to search them all; else nothing."""
    if not text.strip() or not registry_listing.broad_name_search(session, text):
        return ""
    return _(
        "More than {count} people's names start with “{text}”: only {count} of them are "
        "searched. Type more of the name."
    ).format(count=_number(registry_listing.NAME_MATCHES_MAX), text=text.strip())


def count_words(kind: str, count: Count | None) -> str:
    """The count of a list of ``kind`` in words; empty when the list was not counted."""
    return COUNT_WORDS[kind](count) if count is not None else ""
