"""Batches and payments: one batch with its payments, its CSV file, and the payments list
with filters (cycle by name or id, batch, state, status) and a search, read as a table
(sortable, counted, paged both ways: ``tables.py``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from g2p_payment_phee.errors import NotFound, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.jobs.kinds import JobKind
from g2p_payment_phee.pagination import Page
from g2p_payment_phee.payments import service as payments
from g2p_payment_phee.payments.cancel import why_not_cancellable
from g2p_payment_phee.payments.listing import list_payments
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.payments.resend import SENDABLE, why_waiting
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.programs.listing import cycle_choices, find_cycle
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.states import CycleState
from g2p_payment_phee.registry.service import RegistrantName, registrant_names
from g2p_payment_phee.tables import TablePage
from g2p_payment_phee.users.permissions import Permission
from g2p_payment_phee.web.api.tables import Paging
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import Acting, SignedIn, Visitor
from g2p_payment_phee.web.pages.forms import choice, path_id
from g2p_payment_phee.web.pages.rendering import SECURITY_HEADERS, redirect, render
from g2p_payment_phee.web.pages.tables import count_words, search_note

router = APIRouter()
PAGE_SIZE = 100


@router.get("/batches/{batch_id}")
def batch_page(
    request: Request,
    session: DbSession,
    visitor: SignedIn,
    paging: Paging,
    batch_id: str,
    status: str = "",
    q: str = "",
) -> Response:
    """A batch: state, counts, amounts, PHEE batch ids, last error, why it waits (being sent
    or its outcome unknown), and its payments."""
    batch = payments.get_batch(session, visitor.user, str(path_id(batch_id, "payment batch")))
    page = list_payments(
        session,
        visitor.user,
        batch_id=batch.id,
        status=choice(PaymentStatus, status, "status"),
        search=q,
        page=paging.sized(PAGE_SIZE),
    )
    context = {
        "batch": batch,
        "cycle": batch.cycle,
        "page": page,
        "count_text": count_words("payments", page.count),
        "search_note": search_note(session, q),
        "q": q,
        "registrants": _payees(session, visitor, page),
        "status": status,
        "waiting": why_waiting(batch),
        "sendable": batch.state in SENDABLE and visitor.can(Permission.SEND_PAYMENTS),
        "cancellable": visitor.can(Permission.PREPARE_PAYMENTS)
        and batch.cycle.state is CycleState.APPROVED
        and why_not_cancellable(session, batch) is None,
    }
    return render(request, "batches/detail.html", context)


@router.post("/batches/{batch_id}/send")
def send_batch(session: DbSession, visitor: Acting, batch_id: str) -> Response:
    """Send this batch alone (a prepared or rejected one), or resolve it (an unknown outcome:
    looked up at the hub first), as a send job; its page shows how it went."""
    user = visitor.require(Permission.SEND_PAYMENTS)
    batch = payments.get_batch(session, user, str(path_id(batch_id, "payment batch")))
    params = {"cycle_id": str(batch.cycle_id), "batch_ids": [str(batch.id)]}
    job = jobs.submit(session, user, JobKind.SEND_CYCLE, params)
    return redirect(f"/jobs/{job.id}")


@router.get("/batches/{batch_id}/file")
def batch_csv(request: Request, session: DbSession, visitor: SignedIn, batch_id: str) -> Response:
    """The batch's PHEE CSV, byte for byte as it is (or was) sent."""
    batch = payments.get_batch(session, visitor.user, str(path_id(batch_id, "payment batch")))
    rendered = payments.batch_file(session, visitor.user, batch)
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="{batch.file_name}"',
        "X-Content-SHA256": rendered.sha256,
    }
    return Response(rendered.data, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/payments")
def payment_list(
    request: Request,
    session: DbSession,
    visitor: SignedIn,
    paging: Paging,
    cycle: str = "",
    batch: str = "",
    state: str = "",
    status: str = "",
    q: str = "",
) -> Response:
    """Payments with their failure reasons, filtered (the cycle by name or id) and searched
    (a registrant's name, reference, phone or ID number; an entitlement code; a payment id),
    sortable, counted, a page at a time."""
    chosen, cycle_error = _chosen_cycle(session, visitor, cycle)
    batch_row = _batch(session, batch) if batch else None
    page: TablePage[Payment] = TablePage(items=[])
    if not cycle_error:
        page = list_payments(
            session,
            visitor.user,
            cycle_id=chosen.id if chosen else None,
            batch_id=batch_row.id if batch_row else None,
            state=choice(PaymentState, state, "state"),
            status=choice(PaymentStatus, status, "status"),
            search=q,
            page=paging.sized(PAGE_SIZE),
        )
    context = {
        "page": page,
        "count_text": count_words("payments", page.count),
        "search_note": search_note(session, q),
        "registrants": _payees(session, visitor, page),
        "cycle": chosen,
        "cycle_error": cycle_error,
        "cycles": cycle_choices(session, visitor.user),
        "batch": batch_row,
        "filters": {"cycle": cycle, "batch": batch, "state": state, "status": status, "q": q},
        "states": list(PaymentState),
        "statuses": list(PaymentStatus),
    }
    return render(
        request, "batches/payments.html", context, status_code=422 if cycle_error else 200
    )


def _chosen_cycle(session: DbSession, visitor: Visitor, text: str) -> tuple[Cycle | None, str]:
    """The cycle the filter names (a name or an id), or why there is none."""
    if not text.strip():
        return None, ""
    try:
        return find_cycle(session, visitor.user, text), ""
    except ValidationFailed as error:
        return None, error.errors[0].reason if error.errors else error.message


def _payees(
    session: DbSession, visitor: Visitor, page: Page[Payment]
) -> dict[uuid.UUID, RegistrantName]:
    """The reference and name of the page's payees: one query for the whole page."""
    return registrant_names(session, visitor.user, (p.registrant_id for p in page.items))


def _batch(session: DbSession, text: str) -> PaymentBatch | None:
    batch = session.get(PaymentBatch, path_id(text.strip(), "payment batch"))
    if batch is None:
        raise NotFound(_("no payment batch {text}").format(text=text))
    return batch
