"""A cycle through the pages, as people do it: registrants imported, a program and a cycle
created, maker–checker enforced, the PHEE manager configured (secrets never shown or logged),
prepared from its dry run, sent and synced as jobs against the emulator."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.emulator import EmulatorServer
from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.programs.models import Cycle, Program
from g2p_payment_phee.programs.states import CycleState
from g2p_payment_phee.users.models import User
from tests.factories import payable_registrant
from tests.integration.phee.conftest import AUTHORIZATION, PASSWORD, hub_settings
from tests.integration.web.pages.conftest import Browser

HUB_SECRET = "hub-pass-3c9e51"  # the emulator's password in the secrets test


def _job_of(answer) -> uuid.UUID:
    assert answer.status_code == 303, answer.text[:500]
    found = re.fullmatch(r"/jobs/([0-9a-f-]{36})", answer.headers["location"])
    assert found, answer.headers["location"]
    return uuid.UUID(found.group(1))


def _finish(browser: Browser, job_id: uuid.UUID) -> str:
    """Wait for the in-process runner to end the job, then read its page."""
    app = browser.client.app
    assert app.state.job_runner.wait(job_id, timeout=60)  # type: ignore[attr-defined]
    page = browser.get(f"/jobs/{job_id}")
    assert 'http-equiv="refresh"' not in page.text  # final: no more refreshing
    return page.text


def test_import_report_lists_each_refused_row(
    as_user: Callable[[User], Browser], manager: User, session: Session
) -> None:
    maker = as_user(manager)
    data = (
        "reference,kind,name,phone\n"
        "P-1,individual,Amina Njeri,+254711000001\n"
        "P-2,individual,Bad Phone,+254 12\n"
        ",individual,No Reference,\n"
    )
    answer = maker.post(
        "/registrants/import",
        page="/registrants/import",
        files={"file": ("people.csv", data.encode(), "text/csv")},
    )
    assert answer.status_code == 200, answer.text[:400]
    assert "3 rows: imported 1" in answer.text
    assert re.search(r"<td class=\"num\">3</td><td>phone</td>", answer.text)
    assert "Amina Njeri" in maker.get("/registrants?q=Amina").text
    detail = maker.get("/registrants/P-1").text
    assert "+254711000001" in detail
    empty = maker.post("/registrants/import", page="/registrants/import", files={})
    assert empty.status_code == 422
    assert "choose a file" in empty.text


def test_a_large_import_goes_to_its_job_page_with_the_report(
    as_user: Callable[[User], Browser], manager: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from g2p_payment_phee.import_jobs import service as import_service

    monkeypatch.setattr(import_service, "INLINE_IMPORT_BYTES", 64)
    maker = as_user(manager)
    data = (
        "reference,kind,name,phone\n"
        "Q-1,individual,Amina Njeri,+254711000001\n"
        "Q-2,individual,Bad Phone,+254 12\n"
    )
    answer = maker.post(
        "/registrants/import",
        page="/registrants/import",
        files={"file": ("people.csv", data.encode(), "text/csv")},
    )
    text = _finish(maker, _job_of(answer))
    assert "2 rows: imported 1" in text
    assert "Bad Phone" not in text  # rows are named by number, field and reason
    assert re.search(r"<td>3</td><td>phone</td>", text), text[-2000:]
    assert "Amina Njeri" in maker.get("/registrants?q=Amina").text


def test_maker_checker_is_visible_and_enforced(
    as_user: Callable[[User], Browser], session: Session, admin: User, approver: User
) -> None:
    for index in range(3):
        payable_registrant(session, index)
    maker = as_user(admin)  # an admin may both make and check, but not the same cycle
    created = maker.post(
        "/programs", {"name": "Child Grant", "currency": "KES", "maker_checker": "1"}
    )
    program_url = created.headers["location"]
    bad = maker.post(f"{program_url}/cycles", {"name": "C1", "start": "2027-01-31", "end": "x"})
    assert bad.status_code == 422
    assert "a date, YYYY-MM-DD" in bad.text
    assert maker.post(f"{program_url}/enrol").status_code == 303
    cycle_url = maker.post(
        f"{program_url}/cycles", {"name": "C1", "start": "2027-01-01", "end": "2027-01-31"}
    ).headers["location"]
    refused_amount = maker.post(f"{cycle_url}/entitlements", {"amount": "-5"})
    assert refused_amount.status_code == 422
    assert 'class="field-error"' in refused_amount.text
    assert maker.post(f"{cycle_url}/entitlements", {"amount": "1500"}).status_code == 303
    assert maker.post(f"{cycle_url}/submit").status_code == 303
    page = maker.get(cycle_url).text
    assert "<bdi>admin</bdi> cannot approve; another approver must" in page
    own = maker.post(f"{cycle_url}/approve")
    assert own.status_code == 409
    assert "maker–checker" in own.text
    session.expire_all()
    cycle = session.scalars(select(Cycle)).one()
    assert cycle.state is CycleState.TO_APPROVE
    checker = as_user(approver)
    assert checker.post(f"{cycle_url}/approve").status_code == 303
    approved = checker.get(cycle_url).text
    assert re.search(r'id="approved-by"><bdi>checker</bdi>,', approved)
    assert re.search(r'id="submitted-by"><bdi>admin</bdi>,', approved)


@pytest.fixture
def hub_program(session: Session, admin: User, approver: User) -> Program:
    from tests import factories

    program = factories.program(session, admin)
    factories.approved_cycle(session, admin, approver, program, beneficiaries=6)
    session.commit()
    return program


def test_manager_form_secrets_are_write_only(
    as_user: Callable[[User], Browser],
    session: Session,
    admin: User,
    hub_program: Program,
    hub: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    hub.update_config({"auth": {"users": [{"username": "mifos", "password": HUB_SECRET}]}})
    browser = as_user(admin)
    url = f"/programs/{hub_program.id}/manager"
    form = {k: str(v) for k, v in hub_settings(hub).items()}
    invalid = browser.post(
        url, {**form, "tenant_id": "", "status_endpoint_url": "ftp://x", "password": HUB_SECRET}
    )
    assert invalid.status_code == 422
    assert HUB_SECRET not in invalid.text  # not even echoed back into the form
    assert re.search(r"Tenant ID \*.*?field-error", invalid.text, re.S)
    assert "is not an http(s) URL" in invalid.text
    saved = browser.post(url, {**form, "password": HUB_SECRET, "authorization": AUTHORIZATION})
    assert saved.status_code == 303
    page = browser.get(url).text
    assert 'id="secret-password">set<' in page
    assert 'id="secret-signing_private_key">not set<' in page
    kept = browser.post(url, {**form, "max_batch_size": "2"})  # blank secrets keep theirs
    assert kept.status_code == 303
    tested = browser.post(f"{url}/test", page=url)
    assert "Connection works" in tested.text
    cleared = browser.post(url, {**form, "clear_password": "1"})
    assert cleared.status_code == 303
    assert 'id="secret-password">not set<' in browser.get(url).text
    failing = browser.post(f"{url}/test", page=url)
    assert "Connection failed" in failing.text
    for answer in (invalid, saved, kept, tested, cleared, failing):
        assert HUB_SECRET not in answer.text
        assert AUTHORIZATION not in answer.text
    for record in caplog.records:
        assert HUB_SECRET not in record.getMessage()
        assert AUTHORIZATION not in record.getMessage()


def test_prepare_send_sync_as_jobs(
    as_user: Callable[[User], Browser],
    session: Session,
    admin: User,
    approver: User,
    hub_program: Program,
    hub: EmulatorServer,
) -> None:
    from g2p_payment_phee.payments.config_service import configure_manager
    from g2p_payment_phee.programs.models import ManagerKind

    configure_manager(
        session,
        admin,
        hub_program,
        ManagerKind.PHEE,
        {**hub_settings(hub), "max_batch_size": 2},
        {"password": PASSWORD, "authorization": AUTHORIZATION},
    )
    cycle = session.scalars(select(Cycle)).one()
    failing = {"254700000001": "Payee account closed"}  # the CSV writes phones as digits
    hub.set_outcomes({"failing_payees": failing})
    maker = as_user(admin)
    dry = maker.get(f"/cycles/{cycle.id}/prepare")
    assert 'id="would-create">6<' in dry.text
    first = _job_of(maker.post(f"/cycles/{cycle.id}/prepare", page=f"/cycles/{cycle.id}/prepare"))
    again = _job_of(maker.post(f"/cycles/{cycle.id}/prepare", page=f"/cycles/{cycle.id}/prepare"))
    _finish(maker, first)
    session.expire_all()
    job = session.get(Job, first)
    assert job is not None
    assert job.state is JobState.SUCCEEDED
    from g2p_payment_phee.payments.models import PaymentBatch

    names = session.scalars(select(PaymentBatch.name).where(PaymentBatch.cycle_id == cycle.id))
    labels = {f"…{name[-8:]}" for name in names}  # time-ordered ids share their first digits
    assert len(labels) == 3
    cycle_page = maker.get(f"/cycles/{cycle.id}").text
    assert all(label in cycle_page for label in labels)
    if again != first:  # the second click came after the first ended: it found nothing to do
        _finish(maker, again)
    checker = as_user(approver)
    sent = _job_of(checker.post(f"/cycles/{cycle.id}/send", page=f"/cycles/{cycle.id}/send"))
    assert "submitted" in _finish(checker, sent)
    assert 'id="overdue"' not in checker.get(f"/cycles/{cycle.id}").text
    assert 'id="overdue"' not in checker.get("/").text
    first_batch = session.scalars(
        select(PaymentBatch)
        .where(PaymentBatch.cycle_id == cycle.id)
        .order_by(PaymentBatch.sequence)
    ).first()
    assert first_batch is not None
    first_batch.submitted_at = utcnow() - timedelta(hours=50)  # as if PHEE had taken days
    session.commit()
    overdue = checker.get(f"/cycles/{cycle.id}").text
    assert 'id="overdue"' in overdue
    assert "2 payments in 1 batch were sent more than 48 h ago" in overdue
    assert f'<a href="/batches/{first_batch.id}">{first_batch.name}</a>' in overdue
    dashboard = checker.get("/").text  # every cycle's overdue payments, where people start
    assert "2 payments in 1 batch were sent more than 48 h ago" in dashboard
    assert f'<a href="/batches/{first_batch.id}">{first_batch.name}</a>' in dashboard
    hub.complete_all()
    synced = _job_of(checker.post(f"/cycles/{cycle.id}/sync", page=f"/cycles/{cycle.id}/sync"))
    assert "5 paid, 1 failed" in _finish(checker, synced)
    page = checker.get(f"/cycles/{cycle.id}").text
    assert re.search(r'id="paid-count">5<', page)
    assert 'id="overdue"' not in page  # final now: nothing overdue
    assert 'id="overdue"' not in checker.get("/").text
    assert "Payee account closed" in checker.get(f"/payments?cycle={cycle.id}&status=failed").text


def test_one_batch_is_sent_from_its_own_page(
    as_user: Callable[[User], Browser],
    session: Session,
    admin: User,
    approver: User,
    hub_program: Program,
    hub: EmulatorServer,
) -> None:
    from g2p_payment_phee.payments import service as payments
    from g2p_payment_phee.payments.config_service import configure_manager
    from g2p_payment_phee.payments.models import PaymentBatch
    from g2p_payment_phee.payments.states import BatchState
    from g2p_payment_phee.programs.models import ManagerKind

    configure_manager(
        session,
        admin,
        hub_program,
        ManagerKind.PHEE,
        {**hub_settings(hub), "max_batch_size": 2},
        {"password": PASSWORD, "authorization": AUTHORIZATION},
    )
    cycle = session.scalars(select(Cycle)).one()
    payments.prepare_cycle(session, admin, cycle)
    first, second, third = session.scalars(
        select(PaymentBatch)
        .where(PaymentBatch.cycle_id == cycle.id)
        .order_by(PaymentBatch.sequence)
    ).all()
    checker = as_user(approver)
    page = checker.get(f"/batches/{second.id}").text
    assert "Send this batch" in page
    job = _job_of(checker.post(f"/batches/{second.id}/send", page=f"/batches/{second.id}"))
    assert "1 of 1 batches submitted" in _finish(checker, job)
    session.expire_all()
    states = [session.get_one(PaymentBatch, b.id).state for b in (first, second, third)]
    assert states == [BatchState.PREPARED, BatchState.SUBMITTED, BatchState.PREPARED]
    assert "Send this batch" not in checker.get(f"/batches/{second.id}").text
    assert len(hub.inspect()["request_ids"]) == 2  # only that batch's two payments went out


def test_a_large_cycle_gets_its_dry_run_as_a_job_then_the_real_run(
    as_user: Callable[[User], Browser],
    session: Session,
    admin: User,
    hub_program: Program,
    hub: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from g2p_payment_phee.payments.config_service import configure_manager
    from g2p_payment_phee.payments.models import Payment
    from g2p_payment_phee.programs.models import ManagerKind
    from g2p_payment_phee.web.pages import payment_jobs

    configure_manager(session, admin, hub_program, ManagerKind.PHEE, hub_settings(hub))
    monkeypatch.setattr(payment_jobs, "INLINE_DRY_RUN_LIMIT", 5)  # the cycle has 6
    cycle = session.scalars(select(Cycle)).one()
    maker = as_user(admin)
    confirm = maker.get(f"/cycles/{cycle.id}/prepare").text
    assert 'id="start-dry-run"' in confirm
    assert 'id="would-create"' not in confirm  # no dry run inside the page request
    page = f"/cycles/{cycle.id}/prepare"
    dry = _job_of(maker.post(f"/cycles/{cycle.id}/prepare/dry-run", page=page))
    result = _finish(maker, dry)
    assert "6 payments in" in result
    assert f'action="/cycles/{cycle.id}/prepare"' in result
    session.expire_all()
    assert session.scalar(select(Payment.id).limit(1)) is None  # the dry run wrote nothing
    real = _job_of(maker.post(f"/cycles/{cycle.id}/prepare", page=f"/jobs/{dry}"))
    assert real != dry
    real_page = _finish(maker, real)
    assert f'action="/cycles/{cycle.id}/prepare"' not in real_page  # no offer after a real run
    session.expire_all()
    assert len(session.scalars(select(Payment.id)).all()) == 6
