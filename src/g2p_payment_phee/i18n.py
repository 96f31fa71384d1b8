"""Languages and time zones: the messages people read, in theirs.

Every string a person reads (pages, CLI output, error messages) goes through :func:`gettext`
(imported as ``_``) or :func:`ngettext`.  The language and the time zone in force are context
variables: the web app sets them per request (the user's preference, else ``Accept-Language``;
the user's zone, else ``G2P_TIME_ZONE``), the CLI once from ``G2P_LANGUAGE``/``LANG``.  A message
made while a French request is served is French, wherever in the code it was raised.

Catalogs are the ``.po`` files under ``locale/<lang>/LC_MESSAGES/``; every ``.po`` file of a
language is read (each part of the product keeps its own file), compiled in memory the first time
the language is used, and looked up one after the other in file-name order.  English is the
source language: its messages are the msgids.
``python3 dev.py i18n`` extracts the messages and updates the catalogs.
"""

from __future__ import annotations

import gettext as _gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import tzinfo
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE_LANGUAGE = "en"
# the languages with complete catalogs, by the name each gives itself (the switcher's labels)
LANGUAGES: dict[str, str] = {"en": "English", "fr": "Français", "es": "Español"}

_language: ContextVar[str] = ContextVar("g2p_language", default=SOURCE_LANGUAGE)
_zone: ContextVar[str] = ContextVar("g2p_time_zone", default="UTC")


def _compiled(path: Path, language: str) -> _gettext.GNUTranslations:
    """One ``.po`` file compiled in memory (its translated, non-fuzzy messages)."""
    with path.open("rb") as handle:
        part = read_po(handle, locale=language)
    kept = Catalog(locale=language)
    for message in part:
        if message.id and message.string and not message.fuzzy:
            kept[message.id] = message
    buffer = io.BytesIO()
    write_mo(buffer, kept)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


@cache
def _translations(language: str) -> _gettext.NullTranslations:
    """The catalogs of ``language`` (all its ``.po`` files) chained, in file-name order: a
    message missing from one is looked up in the next. Chained rather than merged, so that a
    word one part uses alone ("batch") and another with a plural keep both translations."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    files = sorted(folder.glob("*.po")) if language != SOURCE_LANGUAGE else []
    if not files:
        return _gettext.NullTranslations()
    first, *rest = (_compiled(path, language) for path in files)
    for following in rest:
        first.add_fallback(following)
    return first


def gettext(message: str) -> str:
    """``message`` in the language in force (itself when the catalog lacks it)."""
    return _translations(_language.get()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural message for ``count``, by the language's plural rule."""
    return _translations(_language.get()).ngettext(singular, plural, count)


def pgettext(context: str, message: str) -> str:
    """``message`` in the language in force, as meant in ``context`` (a short word kept apart
    from the same word elsewhere: a state "paid" beside a count "3 paid")."""
    return _translations(_language.get()).pgettext(context, message)


def lazy_pgettext(context: str, message: str) -> Any:
    """:func:`pgettext` when the message is used (module-level tables of words)."""
    return LazyProxy(pgettext, context, message, enable_cache=False)


_ = gettext


def lazy_gettext(message: str) -> Any:
    """A message translated when it is used (module-level labels, enum titles)."""
    return LazyProxy(gettext, message, enable_cache=False)


def current_language() -> str:
    """The language messages are made in now (``en``, ``fr``, ``es``)."""
    return _language.get()


def current_zone() -> tzinfo:
    """The time zone times are shown in now."""
    return ZoneInfo(_zone.get())


def supported_language(tag: str | None) -> str | None:
    """The supported language a tag names (``fr-CA`` → ``fr``), or None."""
    if not tag:
        return None
    try:
        parsed = Locale.parse(tag.strip().replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    return parsed.language if parsed.language in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The best supported language of an ``Accept-Language`` header, by its q-values."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        language = supported_language(tag)
        if language is not None and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


def valid_zone(name: str) -> str:
    """``name`` when it is an IANA time zone (``Africa/Nairobi``); ValueError otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone (IANA name, e.g. Africa/Nairobi)") from None
    return name


@contextmanager
def use(language: str | None = None, zone: str | None = None) -> Iterator[None]:
    """Messages and times in ``language`` and ``zone`` inside the block."""
    tokens = []
    if language is not None:
        tokens.append((_language, _language.set(supported_language(language) or "en")))
    if zone is not None:
        tokens.append((_zone, _zone.set(zone)))
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def apply(language: str | None = None, zone: str | None = None) -> None:
    """Make ``language`` and ``zone`` the ones in force for the rest of the current context.

    For a request's dependencies once they know the user; whoever opened the context (the web
    app's middleware, with :func:`use`) restores the previous values when it ends."""
    if language is not None:
        _language.set(supported_language(language) or SOURCE_LANGUAGE)
    if zone is not None:
        _zone.set(zone)


def babel_locale() -> Locale:
    """The Babel locale of the language in force, for formatting numbers and dates."""
    return Locale.parse(_language.get())
