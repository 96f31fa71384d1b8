"""A whole cycle in a real browser: configure the PHEE manager against the emulator, import
registrants, create and submit a cycle, approve it as a second user, prepare (dry run first),
send, sync, see payments paid and failed, retry the failed ones, download a batch file.
Screenshots of the main pages go to var/test-artifacts/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from g2p_payment_phee.emulator import EmulatorServer
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.registry import service as registry
from g2p_payment_phee.registry.models import Phone
from g2p_payment_phee.registry.sample_data import generate_registrants_csv
from g2p_payment_phee.users.service import get_user
from tests.e2e.conftest import LiveApp, sign_in

HUB_PASSWORD = "password"
HUB_AUTHORIZATION = "Basic Y2xpZW50Og=="
JOB_TIMEOUT_MS = 60_000


def wait_for_job(page: Page) -> None:
    """The job page refreshes itself until the job is final."""
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)


def run_step(page: Page, cycle_url: str, step: str, button: str) -> None:
    page.goto(f"{cycle_url}/{step}")
    page.get_by_role("button", name=button).click()
    wait_for_job(page)


def test_a_cycle_from_registry_to_reconciliation(
    live_app: LiveApp, emulator: EmulatorServer, browser: Browser, screenshots: Path, tmp_path: Path
) -> None:
    with live_app.factory() as session:
        registry.ensure_id_type(session, get_user(session, "admin"), "National ID", r"[0-9]{8}")
        session.commit()
    admin = sign_in(browser, live_app, "admin")

    # the admin creates the program and configures its Payment Hub EE manager
    admin.get_by_role("link", name="Programs").click()
    admin.get_by_label("Name").fill("Cash for Work")
    admin.get_by_label("Currency (ISO 4217)").fill("KES")
    admin.get_by_role("button", name="Create program").click()
    expect(admin.get_by_role("heading", name="Cash for Work")).to_be_visible()
    program_url = admin.url
    admin.get_by_role("link", name="Edit the manager settings").click()
    base = emulator.base_url
    form = admin.locator("#manager-form")
    form.locator("input[name=tenant_id]").fill("gorilla")
    form.locator("select[name=payee_id_type]").select_option("phone")
    form.locator("input[name=max_batch_size]").fill("10")
    form.locator("input[name=username]").fill("mifos")
    form.locator("input[name=auth_endpoint_url]").fill(f"{base}/oauth/token")
    form.locator("input[name=payment_endpoint_url]").fill(f"{base}/batchtransactions")
    form.locator("input[name=status_endpoint_url]").fill(f"{base}/api/v1/batch")
    form.locator("input[name=details_endpoint_url]").fill(f"{base}/api/v1/batch/detail")
    form.locator("input[name=password]").fill(HUB_PASSWORD)
    form.locator("input[name=authorization]").fill(HUB_AUTHORIZATION)
    admin.get_by_role("button", name="Save settings").click()
    expect(admin.locator(".flash")).to_have_text("Payment manager settings saved.")
    expect(admin.locator("#secret-password")).to_have_text("set")
    expect(admin.locator("#secret-signing_private_key")).to_have_text("not set")
    admin.get_by_role("button", name="Test connection").click()
    expect(admin.locator("#manager-message")).to_contain_text("Connection works")
    assert HUB_AUTHORIZATION not in admin.content()
    admin.screenshot(path=str(screenshots / "manager-form.png"), full_page=True)

    # the maker imports registrants (one row refused), enrols them, makes and submits a cycle
    maker = sign_in(browser, live_app, "maker")
    people = generate_registrants_csv(24, seed=3, invalid_share=0.15)
    people += b"BAD-1,individual,Bad Phone,,,,,,,+254 12\n"  # refused by the import
    upload = tmp_path / "people.csv"
    upload.write_bytes(people)
    maker.goto(f"{live_app.base_url}/registrants/import")
    maker.locator("input[type=file]").set_input_files(str(upload))
    maker.get_by_role("button", name="Import").click()
    expect(maker.locator("#report")).to_contain_text("25 rows: imported 24")
    expect(maker.locator("#report table")).to_contain_text("phone")
    maker.goto(program_url)
    maker.get_by_role("button", name=re.compile("Enrol every")).click()
    expect(maker.locator(".flash")).to_contain_text("24 beneficiaries enrolled")
    maker.get_by_label("Name").fill("2027-01")
    maker.get_by_label("Starts").fill("2027-01-01")
    maker.get_by_label("Ends").fill("2027-01-31")
    maker.get_by_role("button", name="Create cycle").click()
    cycle_url = maker.url
    maker.get_by_label("Amount each").fill("1500")
    maker.get_by_role("button", name="Add for every enrolled beneficiary").click()
    expect(maker.locator(".flash")).to_contain_text("24 entitlements added")
    maker.get_by_role("button", name="Submit for approval").click()
    expect(maker.locator("#submitted-by")).to_contain_text("maker")
    expect(maker.get_by_role("link", name="Approve…")).to_have_count(0)  # not the maker's role

    # the checker approves
    checker = sign_in(browser, live_app, "checker")
    checker.goto(cycle_url)
    checker.get_by_role("link", name="Approve…").click()  # a confirmation: people and money
    expect(checker.locator("#approve-people")).to_have_text("24")
    expect(checker.locator("#approve-amount")).to_have_text("36,000.00 KES")
    checker.get_by_role("button", name="Approve 24 entitlements").click()
    expect(checker.locator("#approved-by")).to_contain_text("checker")

    # two payees will fail: one for good, one until the hub's outage ends
    with live_app.factory() as session:
        numbers = sorted(session.scalars(select(Phone.number)))
    payable = len(numbers)  # the generated rows without a phone get no payment
    assert 0 < payable < 24
    closed, unavailable = numbers[0][1:], numbers[1][1:]  # the CSV writes phones as digits
    emulator.set_outcomes(
        {
            "failing_payees": {
                closed: "Payee account closed",
                unavailable: "Payee FSP temporarily unavailable",
            }
        }
    )

    # prepare: the dry run first, then the job
    maker.goto(f"{cycle_url}/prepare")
    expect(maker.locator("#dry-run")).to_contain_text("nothing written yet")
    expect(maker.locator("#would-create")).to_have_text(str(payable))
    expect(maker.locator("#dry-run table")).to_contain_text("phone")  # why the others are skipped
    maker.get_by_role("button", name="Prepare payments now").click()
    wait_for_job(maker)
    batches = -(-payable // 10)
    expect(maker.locator("#job-result")).to_contain_text(f"{payable} payments in {batches} batches")

    run_step(checker, cycle_url, "send", "Send batches to the hub now")
    emulator.complete_all()
    run_step(checker, cycle_url, "sync", "Sync payment statuses from the hub now")
    checker.goto(cycle_url)
    expect(checker.locator("#paid-count")).to_have_text(str(payable - 2))
    expect(checker.locator("#failed-count")).to_have_text("2")
    # people first: each beneficiary once; the skipped ones are named, not lost
    expect(checker.locator("#people-paid")).to_have_text(str(payable - 2))
    expect(checker.locator("#people-failed")).to_have_text("2")
    checker.screenshot(path=str(screenshots / "cycle-with-batches.png"), full_page=True)
    checker.screenshot(path=str(screenshots / "cycle-before-retry.png"), full_page=True)

    checker.goto(f"{live_app.base_url}/payments?cycle={cycle_url.rsplit('/', 1)[1]}&status=failed")
    expect(checker.locator("table")).to_contain_text("Payee account closed")
    expect(checker.locator("table")).to_contain_text("Payee FSP temporarily unavailable")
    with live_app.factory() as session:
        with_failures = select(PaymentBatch).where(PaymentBatch.failed_count > 0)
        failed_batch = session.scalars(with_failures.order_by(PaymentBatch.sequence)).first()
    assert failed_batch is not None
    checker.goto(f"{live_app.base_url}/batches/{failed_batch.id}")
    expect(checker.locator("#phee-batch-id")).not_to_have_text("not yet known")
    checker.screenshot(path=str(screenshots / "batch-with-failed-payments.png"), full_page=True)
    with checker.expect_download() as download_info:
        checker.locator("#download").click()
    csv_path = tmp_path / "batch.csv"
    download_info.value.save_as(csv_path)
    csv_text = csv_path.read_text(encoding="utf-8")
    assert csv_text.startswith(
        "id,request_id,payment_mode,payer_identifier_type,payer_identifier,"
        "payee_identifier_type,payee_identifier,amount,currency,note\n"
    )
    assert not csv_text.endswith("\n")

    # the outage is over: retry the failed payments, send, sync
    emulator.set_outcomes({"failing_payees": {closed: "Payee account closed"}})
    maker.goto(f"{cycle_url}/retry")
    expect(maker.locator("#would-create")).to_have_text("2")
    maker.get_by_role("button", name="Retry failed payments now").click()
    wait_for_job(maker)
    run_step(checker, cycle_url, "send", "Send batches to the hub now")
    emulator.complete_all()
    run_step(checker, cycle_url, "sync", "Sync payment statuses from the hub now")
    checker.goto(cycle_url)
    expect(checker.locator("#paid-count")).to_have_text(str(payable - 1))
    expect(checker.locator("#failed-count")).to_have_text("3")  # attempts: 2 then 1 again
    expect(checker.locator("#people-paid")).to_have_text(str(payable - 1))
    expect(checker.locator("#people-failed")).to_have_text("1")  # people: one still unpaid
    expect(checker.locator("#unpaid-reasons")).to_contain_text("Payee account closed (1)")
    checker.screenshot(path=str(screenshots / "cycle-after-retry.png"), full_page=True)
    assert emulator.inspect()["accepted_more_than_once"] == []

    # the dashboard draws the cycle, the reasons and the money, within the page's CSP
    refused: list[str] = []
    admin.on("console", lambda message: refused.append(message.text))
    admin.goto(f"{live_app.base_url}/")
    expect(admin.get_by_role("heading", name="Recent batches")).to_be_visible()
    outcomes = admin.get_by_role("img", name="What became of the beneficiaries of Cash for Work")
    expect(outcomes).to_be_visible()
    cycles = admin.locator("#cycles-being-paid")
    expect(cycles).to_contain_text(f"paid: {payable - 1}")
    expect(cycles).to_contain_text("failed: 1")
    expect(admin.locator("#failure-reasons-card")).to_contain_text("Payee account closed: 1")
    expect(admin.get_by_role("img", name=re.compile("^Money paid per day in KES"))).to_be_visible()
    paid_total = f"{(payable - 1) * 1500:,}.00 KES"
    expect(admin.locator("#money-per-day tr").last).to_contain_text(paid_total)
    admin.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)
    assert [text for text in refused if "Content Security Policy" in text] == []
