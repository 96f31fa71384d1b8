"""ID types: every kind of registrant ID, with the form to add one and a button to disable one
(admins and program managers; everyone may read the list)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from g2p_payment_phee.errors import Conflict, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.registry import service
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import Acting, SignedIn, Visitor
from g2p_payment_phee.web.pages.forms import field_errors
from g2p_payment_phee.web.pages.rendering import redirect, render

router = APIRouter()


def _page(
    request: Request,
    session: DbSession,
    visitor: Visitor,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "id_types": service.list_id_types(session, visitor.user),
        "values": values or {},
        "errors": errors or {},
        "editable": visitor.can(Permission.MANAGE_REGISTRY),
    }
    return render(request, "id_types/list.html", context, status_code=status)


@router.get("/id-types")
def id_type_list(request: Request, session: DbSession, visitor: SignedIn) -> Response:
    """Every ID type, with the form to add one for those who may."""
    return _page(request, session, visitor)


@router.post("/id-types")
def create_id_type(
    request: Request,
    session: DbSession,
    visitor: Acting,
    name: str = Form(""),
    validation_regex: str = Form(""),
    description: str = Form(""),
) -> Response:
    """A new ID type; a bad pattern or a taken name comes back next to its field."""
    user = visitor.require(Permission.MANAGE_REGISTRY)
    values = {"name": name, "validation_regex": validation_regex, "description": description}
    try:
        created = service.create_id_type(
            session, user, name=name, validation_regex=validation_regex, description=description
        )
    except (ValidationFailed, Conflict) as error:
        session.rollback()
        if isinstance(error, ValidationFailed):
            errors = field_errors(error, default="name")
        else:
            errors = {"name": error.message}
        return _page(request, session, visitor, values, errors, 422)
    return redirect("/id-types", _("ID type {name} created.").format(name=created.name))


@router.post("/id-types/{name:path}/disable")
def disable_id_type(request: Request, session: DbSession, visitor: Acting, name: str) -> Response:
    """Refuse new IDs of the type; the registrants' IDs of it stay."""
    user = visitor.require(Permission.MANAGE_REGISTRY)
    disabled = service.disable_id_type(session, user, name)
    return redirect(
        "/id-types", _("ID type {name} disabled: it takes no new IDs.").format(name=disabled.name)
    )
