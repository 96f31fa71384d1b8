"""List pages as tables: sortable headers, counts, first/previous/next/last, search, the cycle
chosen by name (tables.py through the pages)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee import tables
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.programs.models import Entitlement
from g2p_payment_phee.registry import listing as registry_listing
from g2p_payment_phee.registry.models import Registrant
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.pages import batches as batch_pages
from g2p_payment_phee.web.pages import entitlements as entitlement_pages
from tests.integration.web.pages.builders import PaidCycle, prepared_cycle
from tests.integration.web.pages.conftest import Browser

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture
def paid(session: Session, admin: User, approver: User) -> PaidCycle:
    """Seven payments of one cycle (C1), in batches of two."""
    built = prepared_cycle(session, admin, approver, size=7)
    session.commit()
    return built


@pytest.fixture
def browser(viewer: User, as_user: Callable[[User], Browser]) -> Browser:
    return as_user(viewer)


def _payment_ids(page: str) -> list[str]:
    """The payment ids of a payments table, in the order shown."""
    return re.findall(rf'<td class="mono">({UUID})</td>', page)


def _link(answer: httpx.Response, rel: str) -> str:
    """The URL of the page's previous or next link (the links are relative: ``?…``)."""
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', answer.text)
    assert found, f"no {rel} link"
    return answer.url.path + html.unescape(found.group(1))


def _pager_link(answer: httpx.Response, label: str) -> str:
    """The URL of the pager's link to the first or last page."""
    found = re.search(rf'<nav class="pager".*<a href="([^"]+)">[^<]*{label}', answer.text, re.S)
    assert found, f"no link to the {label} page"
    return answer.url.path + html.unescape(found.group(1))


def _count(page: str) -> str:
    found = re.search(r'<p class="count muted" id="count">([^<]+)</p>', page)
    assert found, "no count above the list"
    return found.group(1)


def _ids(session: Session, paid: PaidCycle) -> list[str]:
    query = select(Payment.id).where(Payment.cycle_id == paid.cycle.id).order_by(Payment.id)
    return [str(i) for i in session.scalars(query)]


def test_payments_page_walks_both_ways_and_comes_back_to_the_same_rows(
    paid: PaidCycle, session: Session, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_pages, "PAGE_SIZE", 3)
    everything = _ids(session, paid)
    first = browser.get("/payments?cycle=C1")
    assert first.status_code == 200, first.text
    assert _payment_ids(first.text) == everything[:3]
    assert _count(first.text) == "7 payments"
    assert 'rel="prev"' not in first.text
    assert "First" not in first.text

    second = browser.get(_link(first, "next"))
    assert _payment_ids(second.text) == everything[3:6]
    back = browser.get(_link(second, "prev"))
    assert _payment_ids(back.text) == everything[:3]

    last = browser.get(_pager_link(first, "Last"))
    assert _payment_ids(last.text) == everything[4:]  # a full last page
    assert 'rel="next"' not in last.text
    before_last = browser.get(_link(last, "prev"))
    assert _payment_ids(before_last.text) == everything[1:4]
    start = browser.get(_pager_link(last, "First"))
    assert _payment_ids(start.text) == everything[:3]


def test_payments_sort_by_their_header_both_ways(
    paid: PaidCycle, session: Session, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_pages, "PAGE_SIZE", 3)
    everything = _ids(session, paid)
    page = browser.get("/payments?cycle=C1").text
    header = re.search(r'aria-sort="ascending"><a class="sort" href="([^"]+)"', page)
    assert header, "the payment column is sorted, ascending, and links to the other way"
    newest = browser.get("/payments" + html.unescape(header.group(1)))
    assert "sort=-created" in str(newest.url)
    assert 'aria-sort="descending"' in newest.text
    assert _payment_ids(newest.text) == everything[::-1][:3]
    older = browser.get(_link(newest, "next"))
    assert _payment_ids(older.text) == everything[::-1][3:6]

    refused = browser.get("/payments?sort=amount")
    assert refused.status_code == 422
    assert "sorts by created" in refused.text


def test_a_batchs_payments_sort_by_row_both_ways(
    paid: PaidCycle, session: Session, browser: Browser
) -> None:
    batch = paid.batches[0]
    query = select(Payment.id).where(Payment.batch_id == batch.id).order_by(Payment.batch_row)
    rows = [str(i) for i in session.scalars(query)]
    page = browser.get(f"/batches/{batch.id}")
    assert _payment_ids(page.text) == rows
    assert _count(page.text) == "2 payments"
    reversed_page = browser.get(f"/batches/{batch.id}?sort=-row")
    assert _payment_ids(reversed_page.text) == rows[::-1]


def test_counts_are_exact_below_the_cap_and_a_floor_above_it(
    paid: PaidCycle, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _count(browser.get("/payments").text) == "7 payments"
    assert _count(browser.get(f"/cycles/{paid.cycle.id}/entitlements").text) == "7 entitlements"
    assert _count(browser.get("/registrants").text) == "7 registrants"
    monkeypatch.setattr(tables, "COUNT_CAP", 5)
    assert _count(browser.get("/payments").text) == "more than 5 payments"
    assert _count(browser.get("/registrants").text) == "more than 5 registrants"
    assert _count(browser.get("/audit").text).startswith("more than 5 events")
    monkeypatch.setattr(tables, "COUNT_CAP", 7)
    assert _count(browser.get("/payments").text) == "7 payments"


def _payee(session: Session, index: int) -> tuple[str, str]:
    """The payment id and entitlement code of the beneficiary ``index`` (factories)."""
    registrant = session.scalars(
        select(Registrant).where(Registrant.reference == f"B{index:06d}")
    ).one()
    payment = session.scalars(select(Payment).where(Payment.registrant_id == registrant.id)).one()
    code = session.scalars(
        select(Entitlement.code).where(Entitlement.registrant_id == registrant.id)
    ).one()
    return str(payment.id), code


@pytest.mark.parametrize(
    "text",
    [
        "beneficiary 3",  # the start of the name, any case
        "BENEF",  # a prefix shared by all: narrowed below by the reference
        "B000003",  # the registrant's reference
        "0700 000 003",  # the phone as people write it, read with the default region
        "+254700000003",
        "00000003",  # the ID number
        "code",  # the entitlement's code (filled in below)
        "payment",  # the payment id
    ],
)
def test_payments_and_entitlements_are_searched_by_each_kind(
    paid: PaidCycle,
    session: Session,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
) -> None:
    monkeypatch.setenv("G2P_DEFAULT_PHONE_REGION", "KE")
    get_settings.cache_clear()
    payment, code = _payee(session, 3)
    text = {"code": code, "payment": payment}.get(text, text)
    expected = {payment} if text != "BENEF" else set(_ids(session, paid))

    found = browser.get("/payments", params={"q": text})
    assert found.status_code == 200, found.text
    assert set(_payment_ids(found.text)) == expected
    assert f'value="{text}"' in found.text  # the search stays in its box

    if text == payment:
        return  # entitlements are not searched by payment id
    listed = browser.get(f"/cycles/{paid.cycle.id}/entitlements", params={"q": text})
    codes = re.findall(r'<tr id="e-([^"]+)">', listed.text)
    assert (set(codes) == {code}) if text != "BENEF" else (len(codes) == 7)


def test_a_name_start_too_many_people_share_is_bounded_and_said(
    paid: PaidCycle, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_listing, "NAME_MATCHES_MAX", 3)
    found = browser.get("/payments", params={"q": "benef"})
    assert len(_payment_ids(found.text)) == 3  # the payments of the first 3 people found
    assert "More than 3 people&#39;s names start with “benef”" in found.text
    assert "Type more of the name." in found.text
    narrow = browser.get("/payments", params={"q": "beneficiary 4"})
    assert len(_payment_ids(narrow.text)) == 1
    assert "Type more of the name." not in narrow.text


def test_a_search_that_names_no_one_finds_nothing(paid: PaidCycle, browser: Browser) -> None:
    found = browser.get("/payments", params={"q": "Nobody by this name"})
    assert _payment_ids(found.text) == []
    assert _count(found.text) == "0 payments"


def test_the_cycle_filter_takes_a_name_and_says_when_it_is_unknown(
    paid: PaidCycle, session: Session, browser: Browser
) -> None:
    page = browser.get("/payments?cycle=C1")
    assert page.status_code == 200
    assert f'href="/cycles/{paid.cycle.id}"' in page.text
    assert len(_payment_ids(page.text)) == 7
    assert '<datalist id="cycle-names"><option value="C1">Cash Transfer</option>' in page.text
    # the download carries the cycle's id, which the export understands
    assert f"/exports/payments.csv?cycle={paid.cycle.id}" in page.text

    by_id = browser.get(f"/payments?cycle={paid.cycle.id}")
    assert len(_payment_ids(by_id.text)) == 7

    unknown = browser.get("/payments?cycle=C9")
    assert unknown.status_code == 422
    assert "no cycle is named &#39;C9&#39;; pick one from the list" in unknown.text
    assert 'value="C9"' in unknown.text  # kept in the field, on the same page
    assert _payment_ids(unknown.text) == []


def test_entitlements_sort_by_code_both_ways_with_a_pager(
    paid: PaidCycle, session: Session, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entitlement_pages, "PAGE_SIZE", 4)
    codes = sorted(
        session.scalars(select(Entitlement.code).where(Entitlement.cycle_id == paid.cycle.id))
    )
    url = f"/cycles/{paid.cycle.id}/entitlements"
    up = browser.get(url, params={"sort": "code"})
    assert re.findall(r'<tr id="e-([^"]+)">', up.text) == codes[:4]
    down = browser.get(url, params={"sort": "-code"})
    assert re.findall(r'<tr id="e-([^"]+)">', down.text) == codes[::-1][:4]
    rest = browser.get(_link(down, "next"))
    assert re.findall(r'<tr id="e-([^"]+)">', rest.text) == codes[::-1][4:]
    again = browser.get(_link(rest, "prev"))
    assert re.findall(r'<tr id="e-([^"]+)">', again.text) == codes[::-1][:4]


def test_registrants_audit_and_jobs_sort_both_ways(paid: PaidCycle, browser: Browser) -> None:
    by_name = browser.get("/registrants?sort=-name").text
    names = re.findall(r"<td><bdi>(Beneficiary \d+)</bdi></td>", by_name)
    assert names == sorted(names, reverse=True)
    assert len(names) == 7
    assert 'aria-sort="descending"' in by_name

    def actions(url: str) -> list[str]:
        page = browser.get(url)
        assert page.status_code == 200, (url, page.text)
        return re.findall(r'href="/audit\?action=([^"]+)" title', page.text)

    oldest_first, newest_first = actions("/audit?sort=created"), actions("/audit")
    assert oldest_first[0] == "program.created"
    assert len(oldest_first) > 3
    assert newest_first == oldest_first[::-1]
    assert browser.get("/jobs?sort=created").status_code == 200
    assert browser.get("/audit?sort=action").status_code == 422
