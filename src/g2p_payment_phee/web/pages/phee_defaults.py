"""Payment Hub EE settings (admins): the hub-wide defaults a new PHEE manager starts from.

The secrets are write-only, as on a manager's form: the page shows whether each is set, a
blank field keeps it, "clear" removes it, and no secret is ever written into the page. A bad
setting comes back next to its field and nothing is saved.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.phee import defaults
from g2p_payment_phee.phee.settings import PheeSecrets, PheeSettings
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import Acting, SignedIn, Visitor
from g2p_payment_phee.web.pages.forms import field_errors
from g2p_payment_phee.web.pages.rendering import redirect, render

router = APIRouter()
URL = "/phee-defaults"


def _page(
    request: Request,
    session: Session,
    visitor: Visitor,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str = "",
    status: int = 200,
) -> Response:
    visitor.require(Permission.MANAGE_SETTINGS)
    found = defaults.show_defaults(session, visitor.user)
    shown = values if values is not None else found["settings"]
    context = {
        "settings": [
            (name, defaults.setting_title(name), PheeSettings.model_fields[name].description)
            for name in defaults.DEFAULT_SETTINGS
        ],
        "secrets": [
            (
                name,
                defaults.secret_title(name),
                PheeSecrets.model_fields[name].description,
                shown_as,
            )
            for name, shown_as in found["secrets"].items()
        ],
        "values": {k: ("" if v is None else v) for k, v in shown.items()},
        "updated_at": found["updated_at"],
        "errors": errors or {},
        "message": message,
    }
    return render(request, "managers/phee_defaults.html", context, status_code=status)


@router.get(URL)
def defaults_form(request: Request, session: DbSession, visitor: SignedIn) -> Response:
    """The defaults, as a form (admins only)."""
    return _page(request, session, visitor)


@router.post(URL)
async def save_defaults(request: Request, session: DbSession, visitor: Acting) -> Response:
    """Validate and save every default; secrets change only when a value (or clear) is given."""
    user = visitor.require(Permission.MANAGE_SETTINGS)
    form = await request.form()
    values: dict[str, Any] = {}
    for name in defaults.DEFAULT_SETTINGS:
        given = form.get(name)
        if isinstance(given, str):
            values[name] = given.strip() or None
    secrets: dict[str, str | None] = {}
    for name in defaults.DEFAULT_SECRETS:
        given = form.get(name)
        if form.get(f"clear_{name}"):
            secrets[name] = ""
        elif isinstance(given, str) and given.strip():
            secrets[name] = given.strip()
    try:
        defaults.set_defaults(session, user, values, secrets)
    except ValidationFailed as error:
        session.rollback()
        errors = field_errors(error)
        message = _("The defaults were not saved: fix the fields marked below.")
        if errors.get("settings"):
            message += " " + errors.pop("settings")
        return _page(
            request, session, visitor, values=values, errors=errors, message=message, status=422
        )
    return redirect(URL, _("Payment Hub EE defaults saved."))
