"""The cycle page links to its reconciliation report; the download answers the file, and an
unknown format a page saying why."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from g2p_payment_phee.users.models import User
from tests.integration.payments.reconciliation_world import every_outcome_cycle
from tests.integration.web.pages.conftest import Browser


def test_the_cycle_page_offers_the_report_in_both_formats(
    session: Session,
    admin: User,
    approver: User,
    viewer: User,
    as_user: Callable[[User], Browser],
) -> None:
    cycle = every_outcome_cycle(session, admin, approver)
    session.commit()
    browser = as_user(viewer)
    page = browser.get(f"/cycles/{cycle.id}").text
    assert "Download the reconciliation report" in page
    for fmt in ("xlsx", "csv"):
        assert f'href="/cycles/{cycle.id}/report.{fmt}"' in page
    answer = browser.get(f"/cycles/{cycle.id}/report.csv")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].endswith('.csv"')
    assert answer.headers["cache-control"] == "no-store"
    assert len(answer.text.splitlines()) == 10
    refused = browser.get(f"/cycles/{cycle.id}/report.pdf")
    assert refused.status_code == 422
    assert "unknown report format" in refused.text
