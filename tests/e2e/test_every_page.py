"""Every page of the application in a real browser, over a cycle paid in part, at a desktop's
width (1366 px) and a phone's (390 x 844): none breaks its Content-Security-Policy (the
browser's console names every refusal), axe-core finds no serious or critical accessibility
problem on any, and on the phone no page is wider than the screen, nothing sticks out of it
(tables scroll inside themselves) and the header folds its links behind a Menu button. The
width check is repeated at 360 px, the narrowest phone the layout is made for, and at 768 px.

Screenshots, under var/test-artifacts/screenshots/:

- ``cycle-half-done.png``: the cycle page with its half-done progress bar;
- ``audit-log.png``: the audit log, in words;
- ``payments-sorted-searched.png``: the payments table sorted by amount and searched by name;
- ``dashboard-fr-390.png``: the dashboard in French, on a phone;
- ``phone-390/<page>.png``: every page at 390 px, and ``phone-390/menu-open.png``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, expect
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
    shared_name: str  # the start of every beneficiary's name ("Beneficiary")


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
        name = session.scalars(select(Registrant.name).limit(1)).one()
        world = World(
            str(built.program.id),
            str(built.cycle.id),
            str(built.batches[0].id),
            str(job.id),
            reference,
            name.rsplit(" ", 1)[0],  # factories name them "Beneficiary <n>"
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
        "/account/preferences",
        "/users",
        "/g2p-connect/senders",
        "/api/docs",
    ]


PHONE: ViewportSize = {"width": 390, "height": 844}
OTHER_WIDTHS = (360, 768)  # the narrowest phone the layout is made for; a tablet upright
UUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")

# What sticks out past the sides of a viewport ``width`` px wide, outermost first: the page's own
# width, then each element whose box leaves the screen while its parent's does not. An element
# inside a box that scrolls or clips sideways (a table scrolling inside itself) is left alone.
STICKING_OUT = """(width) => {
  const found = [];
  const page = document.documentElement.scrollWidth;
  if (page > width) { found.push(`the page is ${page} px wide`); }
  const out = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && (box.right > width + 0.5 || box.left < -0.5);
  };
  const clipped = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible") { return true; }
    }
    return false;
  };
  for (const el of document.body.querySelectorAll("*")) {
    if (!out(el) || clipped(el)) { continue; }
    if (el.parentElement !== document.body && out(el.parentElement)) { continue; }
    const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
      + [...el.classList].map((c) => "." + c).join("");
    const text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40);
    const box = el.getBoundingClientRect();
    found.push(`${name} spans ${Math.round(box.left)}..${Math.round(box.right)} px: "${text}"`);
  }
  return found.slice(0, 6);
}"""


def serious_problems(axe: Axe, page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each. Swagger UI's own
    markup on /api/docs (its operation headers nest buttons, its grey version stamps) is the
    vendored library's, not ours: axe looks at the rest of that page."""
    found = axe.run(page, context={"exclude": [["#swagger-ui"]]}).response["violations"]
    lines = []
    for violation in found:
        if violation["impact"] in BLOCKING_IMPACTS:
            where = ", ".join(str(node["target"]) for node in violation["nodes"][:3])
            lines.append(f"{violation['impact']} {violation['id']}: {violation['help']} ({where})")
    return lines


def sticking_out(page: Page) -> list[str]:
    """What leaves the sides of the page's viewport: at its width, then on the narrowest phone
    and on a tablet held upright (the page is laid out again at each width, not reloaded)."""
    width = page.viewport_size["width"] if page.viewport_size else PHONE["width"]
    found: list[str] = page.evaluate(STICKING_OUT, width)
    for other in OTHER_WIDTHS:
        page.set_viewport_size({"width": other, "height": PHONE["height"]})
        found += [f"at {other} px: {line}" for line in page.evaluate(STICKING_OUT, other)]
    page.set_viewport_size({"width": width, "height": PHONE["height"]})
    return found


def listed(what: str, found: dict[str, list[str]]) -> str:
    """Each page with something found on it, and what, one line each (pytest cuts dicts)."""
    lines = [f"{path}: {line}" for path, lines in found.items() for line in lines]
    return f"\n{what}:\n" + "\n".join(lines) if lines else ""


def visit(page: Page, url: str) -> None:
    answer = page.goto(url)
    assert answer is not None
    assert answer.status == 200, url
    page.wait_for_load_state("load")


def on_a_phone(browser: Browser, signed_in: Page, locale: str = "en-GB") -> Page:
    """A phone-sized, touch browser page carrying ``signed_in``'s cookies."""
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        locale=locale,
        storage_state=signed_in.context.storage_state(),
    )
    return context.new_page()


def shot_name(path: str) -> str:
    """A file name for a page's screenshot: its path, ids as ``id`` (``cycles-id-batches``)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", UUID.sub("id", path)).strip("-") or "dashboard"


def check_page_details(page: Page, path: str, world: World, screenshots: Path) -> None:
    """What some pages must show besides being valid: the half-done bar, rows from 1, words."""
    if path == "/api/docs":  # drawn by Swagger UI once loaded, from files served here
        expect(page.locator("#swagger-ui .information-container")).to_be_visible()
    if path == f"/cycles/{world.cycle}":
        bar = page.locator("progress").first
        expect(bar).to_have_attribute("value", "2")
        expect(bar).to_have_attribute("max", "4")
        expect(page.locator(".meter").first).to_contain_text("50 %")
        page.screenshot(path=str(screenshots / "cycle-half-done.png"), full_page=True)
    if path == f"/batches/{world.batch}":  # people count from 1, PHEE's file ids from 0
        first_row = page.locator("table").last.locator("tr").nth(1).locator("td")
        expect(first_row.nth(0)).to_have_text("1")
        expect(first_row.nth(1)).to_have_text("0")
    if path == "/audit":  # the sign-in above, as a sentence
        expect(page.locator("#audit-events")).to_contain_text("admin signed in")
        page.screenshot(path=str(screenshots / "audit-log.png"), full_page=True)


def check_header_folds(phone: Page, desktop: Page, screenshots: Path) -> None:
    """On a phone the header is one short line whose links open behind a Menu button (and
    close again with Escape); on a desktop the links show and there is no button."""
    expect(desktop.get_by_role("button", name="Menu")).to_be_hidden()
    expect(desktop.locator("header").get_by_role("link", name="Payments")).to_be_visible()
    header, menu = phone.locator("header"), phone.get_by_role("button", name="Menu")
    payments = header.get_by_role("link", name="Payments")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(payments).to_be_hidden()
    folded = header.bounding_box()
    assert folded is not None
    assert folded["height"] <= 64, f"the folded header is {folded['height']} px tall"
    menu.focus()
    phone.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(payments).to_be_visible()
    assert phone.evaluate(STICKING_OUT, PHONE["width"]) == []
    phone.screenshot(path=str(screenshots / "phone-390" / "menu-open.png"))
    phone.keyboard.press("Escape")
    expect(payments).to_be_hidden()
    expect(menu).to_be_focused()


def check_payments_sorted_and_searched(page: Page, base_url: str, world: World, shot: Path) -> None:
    """The payments of people found by the start of their name, newest first: the sorted
    column says so and the rows come in that order (payment ids are time-ordered)."""
    visit(page, f"{base_url}/payments?sort=-created&q={world.shared_name}")
    expect(page.locator('th[aria-sort="descending"]')).to_have_count(1)
    rows = page.locator("table tr").filter(has=page.locator("td"))
    expect(rows).to_have_count(4)
    ids = [found.group() for row in rows.all() if (found := UUID.search(row.inner_text()))]
    assert len(ids) == 4
    assert ids == sorted(ids, reverse=True)
    page.screenshot(path=str(shot), full_page=True)


def test_every_page_keeps_its_csp_passes_axe_and_fits_a_phone(
    live_app: LiveApp, browser: Browser, screenshots: Path
) -> None:
    world = half_paid_world(live_app)
    (screenshots / "phone-390").mkdir(exist_ok=True)
    axe = Axe()
    refused: list[str] = []
    too_wide: dict[str, list[str]] = {}

    def listen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(f"{message.page.url if message.page else ''}: {message.text}")

    signed_out = browser.new_page()
    signed_out.on("console", listen)
    signed_out.goto(f"{live_app.base_url}/login")
    problems = {"/login": serious_problems(axe, signed_out)}
    signed_out.set_viewport_size(PHONE)
    too_wide["/login"] = sticking_out(signed_out)
    signed_out.screenshot(path=str(screenshots / "phone-390" / "login.png"))

    admin = sign_in(browser, live_app, "admin")
    admin.on("console", listen)
    phone = on_a_phone(browser, admin)
    phone.on("console", listen)
    for path in every_page(world):
        visit(admin, f"{live_app.base_url}{path}")
        problems[path] = serious_problems(axe, admin)
        check_page_details(admin, path, world, screenshots)
        visit(phone, f"{live_app.base_url}{path}")
        if path == "/api/docs":  # drawn by Swagger UI once loaded, from files served here
            expect(phone.locator("#swagger-ui .information-container")).to_be_visible()
        problems[f"{path} at {PHONE['width']} px"] = serious_problems(axe, phone)
        too_wide[path] = sticking_out(phone)
        phone.screenshot(
            path=str(screenshots / "phone-390" / f"{shot_name(path)}.png"), full_page=True
        )
    assert admin.request.get(f"{live_app.base_url}/favicon.ico").ok
    check_payments_sorted_and_searched(
        admin, live_app.base_url, world, screenshots / "payments-sorted-searched.png"
    )

    visit(phone, f"{live_app.base_url}/")
    check_header_folds(phone, admin, screenshots)
    admin.goto(f"{live_app.base_url}/")
    admin.keyboard.press("Tab")
    skip = admin.get_by_role("link", name="Skip to the content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()

    wrong = listed("axe-core finds", problems) + listed("wider than a phone", too_wide)
    assert not wrong, wrong
    assert refused == []


def test_dashboard_in_french_on_a_phone(
    live_app: LiveApp, browser: Browser, screenshots: Path
) -> None:
    """A browser asking for French (``Accept-Language: fr-FR``) gets the dashboard in French,
    within a phone's width: var/test-artifacts/screenshots/dashboard-fr-390.png."""
    half_paid_world(live_app)
    french = on_a_phone(browser, sign_in(browser, live_app, "admin"), locale="fr-FR")
    visit(french, f"{live_app.base_url}/")
    french.screenshot(path=str(screenshots / "dashboard-fr-390.png"), full_page=True)
    expect(french.locator("html")).to_have_attribute("lang", "fr")
    expect(french.get_by_role("heading", level=1)).not_to_have_text("Dashboard")
    assert sticking_out(french) == []
