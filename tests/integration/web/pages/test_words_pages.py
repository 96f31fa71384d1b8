"""Words for people: the audit log in sentences, job results with their next step, batches by
their number in the cycle, the import template to download."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.payments import tasks
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.reports import SyncReport
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.registry.importer import import_registrants
from g2p_payment_phee.users.models import User
from tests.integration.web.pages.builders import PaidCycle, prepared_cycle
from tests.integration.web.pages.conftest import Browser


@pytest.fixture
def paid(session: Session, admin: User, approver: User) -> PaidCycle:
    built = prepared_cycle(session, admin, approver, size=3)
    session.commit()
    return built


def test_the_audit_log_speaks_in_sentences(
    paid: PaidCycle, viewer: User, approver: User, as_user: Callable[[User], Browser]
) -> None:
    page = as_user(viewer).get("/audit?action=cycle.approved").text
    assert f"{approver.username}</bdi> approved the cycle" in page
    assert 'href="/audit?action=cycle.approved"' in page  # the code stays, small, as a filter
    assert f'<a href="/cycles/{paid.cycle.id}">cycle</a>' in page
    assert '<th scope="row">To</th><td>approved</td>' in page
    assert "from=" not in page  # no Python dicts


def test_a_sync_that_finds_nothing_final_says_when_the_sweep_looks_again(
    session: Session,
    session_factory: sessionmaker[Session],
    paid: PaidCycle,
    viewer: User,
    as_user: Callable[[User], Browser],
) -> None:
    ids = [batch.id for batch in paid.batches]
    session.execute(
        update(PaymentBatch).where(PaymentBatch.id.in_(ids)).values(state=BatchState.SUBMITTED)
    )
    session.commit()
    result = tasks.sync_result(SyncReport(), tasks._processing(session_factory, ids))
    assert result["processing"] == 3
    job = Job(
        kind="sync_cycle",
        dedupe_key="sync_cycle:test",
        state=JobState.SUCCEEDED,
        subject_type="cycle",
        subject_id=str(paid.cycle.id),
        result=result,
    )
    session.add(job)
    session.commit()
    page = as_user(viewer).get(f"/jobs/{job.id}").text
    every = get_settings().sweep_seconds
    assert re.search(
        r'<p id="job-words">nothing final yet: the hub is still processing 3 payments; '
        rf"the sweep looks again every {every} seconds \(next around \d\d:\d\d UTC\)</p>",
        page,
    ), page
    assert f'<p id="next-step"><a href="/cycles/{paid.cycle.id}">Back to the cycle »' in page


def test_batches_are_named_by_their_number_in_the_cycle(
    paid: PaidCycle, viewer: User, as_user: Callable[[User], Browser]
) -> None:
    browser = as_user(viewer)
    first = paid.batches[0]
    name = f"Batch 1 of {paid.cycle.name}"
    short = f'<span class="mono small">…{first.name[-8:]}</span>'
    cycle_page = browser.get(f"/cycles/{paid.cycle.id}").text
    assert f'<a href="/batches/{first.id}"><bdi>{name}</bdi></a> {short}' in cycle_page
    batch_page = browser.get(f"/batches/{first.id}").text
    assert f"<title>{name}" in batch_page
    assert f"<h1><bdi>{name}</bdi>" in batch_page
    assert f"<bdi>{name}</bdi></a> {short}" in browser.get("/").text


def test_the_import_template_downloads_and_imports_as_it_is(
    paid: PaidCycle, session: Session, manager: User, as_user: Callable[[User], Browser]
) -> None:
    """The example row passes every check (the paid cycle made the "National ID" type)."""
    browser = as_user(manager)
    form = browser.get("/registrants/import").text
    assert '<a href="/registrants/import/template.csv">CSV</a>' in form
    assert '<a href="/registrants/import/template.xlsx">XLSX</a>' in form
    sheet = browser.get("/registrants/import/template.xlsx")
    assert sheet.status_code == 200
    assert sheet.content.startswith(b"PK")  # a zip: an XLSX workbook
    assert 'filename="registrants-template.xlsx"' in sheet.headers["content-disposition"]
    answer = browser.get("/registrants/import/template.csv")
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    report = import_registrants(session, manager, answer.content, fmt="csv", dry_run=True)
    assert (report.rows, report.created, report.rejected) == (1, 1, 0), report.errors
    assert browser.get("/registrants/import/template.pdf").status_code == 404


def test_manager_kinds_have_one_name_everywhere(
    paid: PaidCycle, manager: User, as_user: Callable[[User], Browser]
) -> None:
    browser = as_user(manager)
    programs = browser.get("/programs").text
    assert "<td>Payment Hub EE</td>" in programs
    assert ">Manual payment</option>" in programs
    assert "manual (default)" not in programs
    assert "<td>phee</td>" not in programs
    assert "<dd>Payment Hub EE</dd>" in browser.get(f"/programs/{paid.program.id}").text
    assert "<td>Payment Hub EE</td>" in browser.get("/").text
