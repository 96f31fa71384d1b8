"""G2P Connect senders (admins): the list, the form to register one, a button to disable one.

A new sender's client secret is shown on the answer to the form, once; it is never stored.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import Conflict, NotFound, ValidationFailed
from g2p_payment_phee.g2p_connect import senders as service
from g2p_payment_phee.i18n import _
from g2p_payment_phee.programs.service import get_program, list_programs
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import Acting, SignedIn, Visitor
from g2p_payment_phee.web.pages.forms import field_errors
from g2p_payment_phee.web.pages.rendering import redirect, render

router = APIRouter()
URL = "/g2p-connect/senders"


def _page(
    request: Request,
    session: Session,
    visitor: Visitor,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    user = visitor.require(Permission.MANAGE_SETTINGS)
    context = {
        "senders": service.list_senders(session, user),
        "programs": list_programs(session, user),
        "values": values or {},
        "errors": errors or {},
        "created": created,
    }
    return render(request, "g2p_connect/senders.html", context, status_code=status)


@router.get(URL)
def sender_list(request: Request, session: DbSession, visitor: SignedIn) -> Response:
    """Every sender, and the form to register one."""
    return _page(request, session, visitor)


@router.post(URL)
def add_sender(
    request: Request,
    session: DbSession,
    visitor: Acting,
    sender_id: str = Form(""),
    program: str = Form(""),
    callback_url: str = Form(""),
    public_key: str = Form(""),
    auto_approve: str = Form(""),
    token_url: str = Form(""),
    token_client_id: str = Form(""),
    token_client_secret: str = Form(""),
) -> Response:
    """Register a sender; the page then shows its client secret, once."""
    user = visitor.require(Permission.MANAGE_SETTINGS)
    values = {
        "sender_id": sender_id,
        "program": program,
        "callback_url": callback_url,
        "public_key": public_key,
        "auto_approve": auto_approve,
        "token_url": token_url,
        "token_client_id": token_client_id,
    }
    try:
        request_ = service.SenderRequest(
            sender_id=sender_id,
            program=get_program(session, program),
            callback_url=callback_url,
            public_key_pem=public_key,
            auto_approve=bool(auto_approve),
            token_url=token_url,
            token_client_id=token_client_id,
            token_client_secret=token_client_secret or None,
        )
        sender, secret = service.add_sender(session, user, request_)
    except (ValidationFailed, Conflict, NotFound) as error:
        session.rollback()
        if isinstance(error, ValidationFailed):
            errors = field_errors(error, default="sender_id")
        elif isinstance(error, NotFound):
            errors = {"program": error.message}
        else:
            errors = {"sender_id": error.message}
        return _page(request, session, visitor, values=values, errors=errors, status=422)
    created = {"sender_id": sender.sender_id, "client_secret": secret}
    return _page(request, session, visitor, created=created, status=201)


@router.post(URL + "/{sender_id}/disable")
def disable_sender(
    request: Request, session: DbSession, visitor: Acting, sender_id: str
) -> Response:
    """Refuse the sender's tokens and requests; what it sent is still paid."""
    user = visitor.require(Permission.MANAGE_SETTINGS)
    sender = service.disable_sender(session, user, sender_id)
    return redirect(URL, _("Sender {sender_id} disabled.").format(sender_id=sender.sender_id))
