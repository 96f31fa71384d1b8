"""Browser tests: the real application served by uvicorn on a free port over a fresh SQLite
database, the PHEE emulator in-process, and Debian's Chromium driven by Playwright.

Outside CI a machine without ``/usr/bin/chromium`` skips these tests with the reason; under
``CI=true`` the missing browser fails the run (``python3 dev.py test`` installs it with apt
when it runs as root).
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.db import make_engine, make_session_factory, migrate
from g2p_payment_phee.emulator import EmulatorConfig, EmulatorServer
from g2p_payment_phee.users.models import Role
from g2p_payment_phee.web.app import create_app
from tests import factories
from tests.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "var" / "test-artifacts" / "screenshots"


@dataclass
class LiveApp:
    """The served application and what the test needs to reach it."""

    base_url: str
    factory: sessionmaker[Session]


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = (
            f"{CHROMIUM} is missing: browser tests NOT RUN "
            "(apt-get install chromium, or run python3 dev.py test as root)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[LiveApp]:
    """The app on a socket bound before the server starts: connections made before uvicorn
    is ready simply wait in the listen queue, so nothing has to poll for readiness."""
    engine = make_engine(f"sqlite:///{tmp_path / 'e2e.sqlite3'}")
    migrate(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        factories.user(session, "admin", Role.ADMIN)
        factories.user(session, "maker", Role.PROGRAM_MANAGER)
        factories.user(session, "checker", Role.APPROVER)
        session.commit()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(factory), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield LiveApp(f"http://127.0.0.1:{port}", factory)
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()
    engine.dispose()


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=5)) as hub:
        yield hub


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def browser(chromium_path: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path))
        yield launched
        launched.close()


def sign_in(browser: Browser, app: LiveApp, username: str) -> Page:
    """A new browser context signed in as ``username`` (a user the live app was made with)."""
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.goto(f"{app.base_url}/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return page
