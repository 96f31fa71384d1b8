"""Rendering pages: the Jinja2 environment, its filters, flash messages and redirects.

Every page is rendered through :func:`render`, which adds what the layout needs (the signed-in
user, the CSRF token for forms, a flash message left by the previous POST).  Jinja2 escapes
every value, so nothing a user typed can become markup.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from babel.dates import format_date, format_time, get_datetime_format
from babel.numbers import format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from g2p_payment_phee import i18n
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.money import display
from g2p_payment_phee.payments.manager import kind_spec
from g2p_payment_phee.programs.models import ManagerKind
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.setting_words import setting_word
from g2p_payment_phee.web.words import target_plural, word

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
FLASH_COOKIE = "g2p_flash"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    # scripts and styles only from our own /static files: no inline script runs
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
# {{ _("…") }}, {% trans %} and ngettext in templates read the request's language (i18n.py)
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True
)


def _money(amount: Decimal | int | None, currency: str) -> str:
    return "" if amount is None else display(Decimal(amount), currency)


def number(value: int | Decimal | None) -> str:
    """A count or number grouped as the language writes it: ``12,345``, ``12 345``."""
    if value is None:
        return ""
    return format_decimal(value, locale=i18n.babel_locale())


def when(value: datetime | date | None) -> str:
    """A time in the zone in force, with the zone's name: ``Dec 8, 2026, 2:05 PM EAT``,
    ``8 déc. 2026, 14:05 EAT``; a date alone as ``Dec 8, 2026``. Naive times are UTC."""
    if value is None:
        return ""
    locale = i18n.babel_locale()
    if not isinstance(value, datetime):
        return format_date(value, "medium", locale=locale)
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    local = aware.astimezone(i18n.current_zone())
    shown = str(get_datetime_format("medium", locale=locale)).format(
        format_time(local, "short", locale=locale), format_date(local, "medium", locale=locale)
    )
    return f"{shown} {local.strftime('%Z')}"


def _label(value: object) -> str:
    """An enum value or setting name for people, in their language: ``to_approve`` → "to
    approve" (see web/words.py)."""
    return word(value)


def _batch_name(batch: Any, cycle_name: str) -> str:
    """A batch as people call it: its number in its cycle (``Batch 3 of 2027-01``); the page
    shows its id beside, small."""
    return i18n.gettext("Batch {number} of {cycle}").format(number=batch.sequence, cycle=cycle_name)


def _manager_kind(kind: object) -> str:
    """A payment manager kind by the name its spec gives it ("Payment Hub EE", "Manual
    payment"), the same in every list and form."""
    try:
        return i18n.gettext(kind_spec(ManagerKind(str(getattr(kind, "value", kind)))).label)
    except ValueError:
        return _label(kind)


def _query(request: Request, **changes: object) -> str:
    """The current URL's query with some parameters changed (None drops one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"


templates.env.filters["money"] = _money
templates.env.filters["when"] = when
templates.env.filters["number"] = number
templates.env.filters["label"] = _label
templates.env.filters["target_plural"] = target_plural
templates.env.filters["setting_word"] = setting_word
templates.env.filters["batch_name"] = _batch_name
templates.env.filters["manager_kind"] = _manager_kind
templates.env.globals["Permission"] = Permission
templates.env.globals["query"] = _query
templates.env.globals["current_language"] = i18n.current_language
templates.env.globals["languages"] = i18n.LANGUAGES


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """The page ``name`` with ``context``; consumes the flash message, if any."""
    data: dict[str, Any] = {"visitor": getattr(request.state, "visitor", None)}
    data["flash"] = read_flash(request)
    data.update(context or {})
    response = templates.TemplateResponse(request, name, data, status_code=status_code)
    if data["flash"] is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    response.headers.update(SECURITY_HEADERS)
    return response


def _sign(payload: str) -> str:
    key = hashlib.sha256(b"flash:" + get_settings().secret().encode("utf-8")).digest()
    return hmac.new(key, payload.encode("ascii"), "sha256").hexdigest()[:32]


def redirect(url: str, message: str | None = None, *, kind: str = "ok") -> Response:
    """A 303 redirect (after a POST), carrying a one-time message for the next page."""
    response = RedirectResponse(url, status_code=303)
    if message:
        payload = base64.urlsafe_b64encode(
            json.dumps({"kind": kind, "text": message}).encode("utf-8")
        ).decode("ascii")
        response.set_cookie(
            FLASH_COOKIE,
            f"{payload}.{_sign(payload)}",
            max_age=120,
            path="/",
            httponly=True,
            samesite="lax",
            secure=get_settings().secure_cookies,
        )
    return response


def read_flash(request: Request) -> dict[str, str] | None:
    """The message the previous POST left, when its signature holds."""
    raw = request.cookies.get(FLASH_COOKIE, "")
    payload, _, signature = raw.partition(".")
    if not payload or not hmac.compare_digest(_sign(payload), signature):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {"kind": str(data.get("kind", "ok")), "text": str(data.get("text", ""))}


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in (never another site)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target:
        return "/"
    return target
