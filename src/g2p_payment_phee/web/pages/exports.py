"""Downloads of the lists: ``/exports/<kind>.csv`` and ``.xlsx`` with the list page's filters.

Each list page links here with its own query (the same parameter names), so the file holds
every page of what the list shows.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.exports.formats import ExportFormat
from g2p_payment_phee.exports.kinds import (
    AuditFilters,
    EntitlementFilters,
    Filters,
    PaymentFilters,
    RegistrantFilters,
)
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.registry.models import RegistrantKind
from g2p_payment_phee.web.api.exports import download
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import SignedIn, Visitor
from g2p_payment_phee.web.pages.forms import choice, path_id
from g2p_payment_phee.web.pages.rendering import SECURITY_HEADERS

router = APIRouter()


def _download(session: Session, visitor: Visitor, filters: Filters, fmt: str) -> Response:
    chosen = choice(ExportFormat, fmt, "format")
    if chosen is None:
        raise ValidationFailed(
            _("format must be csv or xlsx"), [FieldError("format", _("csv or xlsx"))]
        )
    return download(session, visitor.user, filters, chosen, SECURITY_HEADERS)


def _text(value: str) -> str | None:
    return value.strip() or None


@router.get("/exports/registrants.{fmt}")
def registrants(
    session: DbSession, visitor: SignedIn, fmt: str, q: str = "", kind: str = ""
) -> Response:
    """The registrants the search matches, every page of them."""
    filters = RegistrantFilters(_text(q), choice(RegistrantKind, kind, "kind"))
    return _download(session, visitor, filters, fmt)


@router.get("/exports/entitlements.{fmt}")
def entitlements(
    session: DbSession, visitor: SignedIn, fmt: str, cycle: str = "", state: str = ""
) -> Response:
    """A cycle's entitlements, optionally in one state."""
    filters = EntitlementFilters(
        path_id(cycle.strip(), "cycle"), choice(EntitlementState, state, "state")
    )
    return _download(session, visitor, filters, fmt)


@router.get("/exports/payments.{fmt}")
def payments(
    session: DbSession,
    visitor: SignedIn,
    fmt: str,
    cycle: str = "",
    batch: str = "",
    state: str = "",
    status: str = "",
) -> Response:
    """Payments with the payments page's filters."""
    filters = PaymentFilters(
        path_id(cycle.strip(), "cycle") if cycle.strip() else None,
        path_id(batch.strip(), "payment batch") if batch.strip() else None,
        choice(PaymentState, state, "state"),
        choice(PaymentStatus, status, "status"),
    )
    return _download(session, visitor, filters, fmt)


@router.get("/exports/audit.{fmt}")
def audit_log(
    session: DbSession,
    visitor: SignedIn,
    fmt: str,
    action: str = "",
    user: str = "",
    subject_type: str = "",
    subject: str = "",
) -> Response:
    """The audit log with its page's filters, newest first."""
    filters = AuditFilters(
        _text(action),
        _text(user),
        _text(subject_type),
        path_id(subject.strip(), "subject") if subject.strip() else None,
    )
    return _download(session, visitor, filters, fmt)
