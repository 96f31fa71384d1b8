"""Every page of the application in a real browser, over a cycle paid in part: none breaks its
Content-Security-Policy (the browser's console names every refusal) and axe-core finds no
serious or critical accessibility problem on any. The cycle page with its half-done progress
bar goes to var/test-artifacts/screenshots/cycle-half-done.png."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.jobs.models import Job, JobState
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.reconcile import Outcome, reconcile_payments, refresh_batches
from g2p_payment_phee.payments.states import (
    BatchState,
    PaymentStatus,
    mark_batch_payments_sent,
    set_batch_state,
)
from g2p_payment_phee.registry.models import Registrant
from g2p_payment_phee.users.service import get_user
from tests.e2e.conftest import LiveApp, sign_in
from tests.integration.web.pages.builders import prepared_cycle

BLOCKING_IMPACTS = {"serious", "critical"}


@dataclass
class World:
    """The ids the pages of a cycle paid in part are reached by."""

    program: str
    cycle: str
    batch: str
    job: str
    registrant: str


def _pay_first_batch(session: Session, world: Any) -> None:
    """The first of two batches reaches the hub: one payment paid, one failed; the other
    batch is still pending, so the cycle is half reconciled."""
    admin = get_user(session, "admin")
    batch = world.batches[0]
    set_batch_state(session, admin, batch, BatchState.SENDING)
    mark_batch_payments_sent(session, batch)
    set_batch_state(session, admin, batch, BatchState.SUBMITTED)
    first, second = session.scalars(
        select(Payment.id).where(Payment.batch_id == batch.id).order_by(Payment.batch_row)
    ).all()
    paid = Outcome(first, PaymentStatus.PAID, Decimal(100))
    failed = Outcome(second, PaymentStatus.FAILED, None, "Payee account closed")
    reconcile_payments(session, [paid, failed])
    refresh_batches(session, admin, [batch.id])


def half_paid_world(app: LiveApp) -> World:
    with app.factory() as session:
        admin, checker = get_user(session, "admin"), get_user(session, "checker")
        built = prepared_cycle(session, admin, checker, size=4)
        assert len(built.batches) == 2
        _pay_first_batch(session, built)
        job = Job(
            kind="sync_cycle",
            dedupe_key=f"sync:{built.cycle.id}",
            state=JobState.RUNNING,
            created_by="admin",
            subject_type="cycle",
            subject_id=str(built.cycle.id),
            progress_done=1,
            progress_total=2,
        )
        session.add(job)
        session.flush()
        reference = session.scalars(select(Registrant.reference).limit(1)).one()
        world = World(
            str(built.program.id),
            str(built.cycle.id),
            str(built.batches[0].id),
            str(job.id),
            reference,
        )
        session.commit()
    return world


def every_page(world: World) -> list[str]:
    cycle, program = f"/cycles/{world.cycle}", f"/programs/{world.program}"
    return [
        "/",
        "/registrants",
        f"/registrants/{world.registrant}",
        "/registrants/import",
        "/id-types",
        "/programs",
        program,
        f"{program}/manager",
        "/managers",
        "/phee-defaults",
        cycle,
        f"{cycle}/entitlements",
        f"{cycle}/prepare",
        f"{cycle}/send",
        f"{cycle}/sync",
        f"{cycle}/retry",
        f"{cycle}/batches",
        f"/batches/{world.batch}",
        "/payments",
        "/jobs",
        f"/jobs/{world.job}",
        "/audit",
        "/account/tokens",
        "/account/password",
        "/users",
        "/api/docs",
    ]


def serious_problems(axe: Axe, page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each."""
    found = axe.run(page).response["violations"]
    lines = []
    for violation in found:
        if violation["impact"] in BLOCKING_IMPACTS:
            where = ", ".join(str(node["target"]) for node in violation["nodes"][:3])
            lines.append(f"{violation['impact']} {violation['id']}: {violation['help']} ({where})")
    return lines


def test_every_page_keeps_its_csp_and_passes_axe(
    live_app: LiveApp, browser: Browser, screenshots: Path
) -> None:
    world = half_paid_world(live_app)
    axe = Axe()
    refused: list[str] = []

    def listen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(f"{message.page.url if message.page else ''}: {message.text}")

    signed_out = browser.new_page()
    signed_out.on("console", listen)
    signed_out.goto(f"{live_app.base_url}/login")
    problems = {"/login": serious_problems(axe, signed_out)}

    admin = sign_in(browser, live_app, "admin")
    admin.on("console", listen)
    for path in every_page(world):
        answer = admin.goto(f"{live_app.base_url}{path}")
        assert answer is not None
        assert answer.status == 200, path
        admin.wait_for_load_state("load")
        problems[path] = serious_problems(axe, admin)
        if path == f"/cycles/{world.cycle}":
            bar = admin.locator("progress").first
            expect(bar).to_have_attribute("value", "2")
            expect(bar).to_have_attribute("max", "4")
            expect(admin.locator(".meter").first).to_contain_text("50 %")
            admin.screenshot(path=str(screenshots / "cycle-half-done.png"), full_page=True)
        if path == f"/batches/{world.batch}":  # people count from 1, PHEE's file ids from 0
            first_row = admin.locator("table").last.locator("tr").nth(1).locator("td")
            expect(first_row.nth(0)).to_have_text("1")
            expect(first_row.nth(1)).to_have_text("0")
    expect(admin.locator("#swagger-ui .information-container")).to_be_visible()  # offline
    assert admin.request.get(f"{live_app.base_url}/favicon.ico").ok

    admin.goto(f"{live_app.base_url}/")
    admin.keyboard.press("Tab")
    skip = admin.get_by_role("link", name="Skip to the content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()

    assert {path: found for path, found in problems.items() if found} == {}
    assert refused == []
