"""Registrants: search, one registrant's details, bulk import with the per-row report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from g2p_payment_phee.errors import NotFound, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.import_jobs.kinds import ImportKind
from g2p_payment_phee.payments.history import registrant_history
from g2p_payment_phee.registry.import_template import template_csv, template_xlsx
from g2p_payment_phee.registry.importer import import_registrants
from g2p_payment_phee.registry.listing import list_registrants
from g2p_payment_phee.registry.models import RegistrantKind
from g2p_payment_phee.registry.service import get_registrant, list_group_members
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.api.tables import Paging
from g2p_payment_phee.web.api.uploads import ReceivedUpload, import_job, receive_upload
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import Acting, SignedIn
from g2p_payment_phee.web.pages.forms import choice, field_errors
from g2p_payment_phee.web.pages.rendering import SECURITY_HEADERS, redirect, render
from g2p_payment_phee.web.pages.tables import count_words

router = APIRouter()
REPORT_ROWS_SHOWN = 500
HISTORY_PAGE_SIZE = 20  # entitlements, each with its payments
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/registrants")
def search(
    request: Request,
    session: DbSession,
    visitor: SignedIn,
    paging: Paging,
    q: str = "",
    kind: str = "",
) -> Response:
    """Registrants by reference, name, ID value or phone, sortable by reference or name,
    counted, a page at a time."""
    page = list_registrants(
        session,
        visitor.user,
        query=q,
        kind=choice(RegistrantKind, kind, "kind"),
        page=paging.sized(50),
    )
    context = {
        "page": page,
        "count_text": count_words("registrants", page.count),
        "q": q,
        "kind": kind,
        "kinds": list(RegistrantKind),
    }
    return render(request, "registrants/list.html", context)


@router.get("/registrants/import/template.{fmt}")
def import_template(visitor: SignedIn, fmt: str) -> Response:
    """The import template (every column of docs/import.md, one example row), CSV or XLSX."""
    templates = {"csv": (template_csv, "text/csv; charset=utf-8"), "xlsx": (template_xlsx, XLSX)}
    if fmt not in templates:
        raise NotFound(_("no import template as {fmt}: csv or xlsx").format(fmt=fmt))
    write, media_type = templates[fmt]
    disposition = f'attachment; filename="registrants-template.{fmt}"'
    headers = {**SECURITY_HEADERS, "Content-Disposition": disposition}
    return Response(write(), media_type=media_type, headers=headers)


@router.get("/registrants/import")
def import_form(request: Request, visitor: SignedIn) -> Response:
    """The import form (CSV or JSON, see docs/import.md)."""
    visitor.require(Permission.MANAGE_REGISTRY)
    return render(request, "registrants/import.html", {"errors": {}, "report": None})


async def _signed_in_upload(
    _visitor: SignedIn, upload: Annotated[ReceivedUpload, Depends(receive_upload)]
) -> ReceivedUpload:
    return upload


PageUpload = Annotated[ReceivedUpload, Depends(_signed_in_upload)]
"""A page's uploaded file: the visitor is signed in before the body is read (CSRF after)."""


@router.post("/registrants/import")
def import_file(
    request: Request, upload: PageUpload, session: DbSession, visitor: Acting
) -> Response:
    """Import the file (or check it only); good rows land, bad rows come back with reasons."""
    user = visitor.require(Permission.MANAGE_REGISTRY)
    dry_run = bool(upload.fields.get("dry_run"))
    try:
        path = upload.require()
        chosen = upload.format(None)
        job = import_job(session, user, ImportKind.REGISTRANTS, upload, fmt=chosen, dry_run=dry_run)
        if job is not None:
            return redirect(f"/jobs/{job.id}")
        report = import_registrants(
            session, user, path, fmt=chosen, file_name=upload.name, dry_run=dry_run
        )
    except ValidationFailed as error:
        session.rollback()
        context: dict[str, Any] = {
            "errors": field_errors(error, "file"),
            "report": None,
            "message": error.message,
        }
        return render(request, "registrants/import.html", context, status_code=422)
    context = {"errors": {}, "report": report, "shown": report.errors[:REPORT_ROWS_SHOWN]}
    return render(request, "registrants/import.html", context)


@router.get("/registrants/{reference}")
def detail(
    request: Request,
    session: DbSession,
    visitor: SignedIn,
    reference: str,
    cursor: str | None = None,
) -> Response:
    """One registrant: IDs, phones, bank accounts (and members, for a group), and the payment
    history: entitlements in every program, newest cycle first, with every payment."""
    registrant = get_registrant(session, visitor.user, reference)
    members = []
    if registrant.kind is RegistrantKind.GROUP:
        members = list_group_members(session, visitor.user, registrant.reference)
    history = registrant_history(
        session, visitor.user, registrant.id, cursor=cursor, limit=HISTORY_PAGE_SIZE
    )
    context = {"registrant": registrant, "members": members, "history": history}
    return render(request, "registrants/detail.html", context)
