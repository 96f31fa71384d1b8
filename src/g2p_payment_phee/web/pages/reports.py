"""The cycle page's downloads: ``/cycles/{id}/report.xlsx`` and ``.csv``, its reconciliation
report (the same file as ``g2p-phee reports cycle`` and the API's)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from g2p_payment_phee.web.api.reports import report_download
from g2p_payment_phee.web.deps import DbSession
from g2p_payment_phee.web.pages.access import SignedIn
from g2p_payment_phee.web.pages.cycles import load_cycle
from g2p_payment_phee.web.pages.rendering import SECURITY_HEADERS

router = APIRouter()


@router.get("/cycles/{cycle_id}/report.{fmt}")
def cycle_report(session: DbSession, visitor: SignedIn, cycle_id: str, fmt: str) -> Response:
    """The reconciliation report as XLSX (with its summary sheet) or CSV; any other format is
    refused with the reason."""
    cycle = load_cycle(session, cycle_id)
    return report_download(session, visitor.user, cycle, fmt, SECURITY_HEADERS)
