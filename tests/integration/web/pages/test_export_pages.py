"""The lists' "Download CSV / XLSX" links: they carry the page's filters (not its cursor), and
the file they give holds every row those filters select."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable

import openpyxl
import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee.pagination import encode_cursor
from g2p_payment_phee.users.models import User
from tests.integration.web.pages.builders import PaidCycle, prepared_cycle
from tests.integration.web.pages.conftest import Browser


@pytest.fixture
def paid(session: Session, admin: User, approver: User) -> PaidCycle:
    built = prepared_cycle(session, admin, approver, size=3)
    session.commit()
    return built


def _links(page: str) -> dict[str, str]:
    """The page's download links by format."""
    found = re.findall(r'href="(/exports/[a-z]+\.(csv|xlsx)[^"]*)"', page)
    return {fmt: html.unescape(url) for url, fmt in found}


def _rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def test_each_list_links_its_filtered_download(
    paid: PaidCycle, viewer: User, as_user: Callable[[User], Browser]
) -> None:
    browser = as_user(viewer)
    batch = paid.batches[0]
    cursor = encode_cursor(["reference", "B000001"])
    pages = {  # each list page with its filters: its links carry them, never the page's cursor
        f"/registrants?q=B000002&kind=individual&cursor={cursor}": (
            "/exports/registrants.csv?q=B000002&kind=individual"
        ),
        f"/cycles/{paid.cycle.id}/entitlements?state=approved": (
            f"/exports/entitlements.csv?state=approved&cycle={paid.cycle.id}"
        ),
        f"/payments?batch={batch.id}&state=issued": (
            f"/exports/payments.csv?batch={batch.id}&state=issued"
        ),
        "/audit?action=cycle.approved": "/exports/audit.csv?action=cycle.approved",
    }
    for page, link in pages.items():
        links = _links(browser.get(page).text)
        assert links["csv"] == link, page
        assert links["xlsx"] == link.replace(".csv?", ".xlsx?"), page

    answer = browser.get("/exports/registrants.csv?q=B000002&kind=individual")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"].startswith('attachment; filename="registrants-')
    assert answer.headers["cache-control"] == "no-store"
    assert [row["reference"] for row in _rows(answer.content)] == ["B000002"]

    answer = browser.get(f"/exports/payments.csv?batch={batch.id}&state=issued")
    assert [row["batch_row"] for row in _rows(answer.content)] == ["0", "1"]

    answer = browser.get(f"/exports/entitlements.xlsx?state=approved&cycle={paid.cycle.id}")
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert sheet.max_row == 4
    assert {sheet.cell(row, 9).value for row in range(2, 5)} == {"approved"}

    answer = browser.get("/exports/audit.csv?action=cycle.approved")
    assert [row["action"] for row in _rows(answer.content)] == ["cycle.approved"]


def test_bad_downloads_are_error_pages(
    paid: PaidCycle, viewer: User, as_user: Callable[[User], Browser], browser: Browser
) -> None:
    signed_in = as_user(viewer)
    answer = signed_in.get("/exports/registrants.pdf")
    assert answer.status_code == 422
    assert "format must be one of: csv, xlsx" in answer.text
    answer = signed_in.get("/exports/payments.csv?state=lost")
    assert answer.status_code == 422
    assert "state must be one of" in answer.text
    assert signed_in.get("/exports/entitlements.csv?cycle=nope").status_code == 404
    assert signed_in.get("/exports/people.csv").status_code == 404
    anonymous = browser.get("/exports/registrants.csv", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")
