"""Shared fixtures: a migrated database per backend, isolated per test, and the acting users.

Integration tests take ``engine`` / ``session`` and run once on SQLite and once on PostgreSQL.
PostgreSQL comes from ``G2P_TEST_POSTGRES_URL``; where ``CI`` or ``G2P_REQUIRE_SERVICES`` is
set, a missing URL fails the run instead of skipping (the PostgreSQL run must happen there).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import Base, make_engine, make_session_factory, migrate
from g2p_payment_phee.schema import load_models
from g2p_payment_phee.users.models import Role, User
from tests import factories

POSTGRES_ENV = "G2P_TEST_POSTGRES_URL"
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO_ROOT.parent / "shared" / "reference"


def services_required() -> bool:
    """CI (and anyone who asks) must run the PostgreSQL/Redis tests, never skip them."""
    return bool(os.environ.get("CI") or os.environ.get("G2P_REQUIRE_SERVICES"))


def pytest_configure(config: pytest.Config) -> None:
    if services_required() and not os.environ.get(POSTGRES_ENV):
        raise pytest.UsageError(f"{POSTGRES_ENV} must be set when CI/G2P_REQUIRE_SERVICES is set")


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own data folder and freshly loaded settings."""
    for name in list(os.environ):
        if name.startswith("G2P_") and name not in {POSTGRES_ENV, "G2P_TEST_REDIS_URL"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("G2P_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str]:
    """A database of its own for this test run, migrated once, dropped at the end."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} not set")
    url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"g2p_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    test_url = url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(test_url)
    migrate(engine)
    engine.dispose()
    yield test_url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(engine: Engine) -> None:
    load_models()
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test: every integration test runs on both."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of the current backend."""
    if backend == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    return str(request.getfixturevalue("_postgres_url"))


@pytest.fixture
def engine(db_url: str, backend: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    if backend == "postgres":
        _truncate_all(engine)
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session the test drives as an entry point would (it commits when it wants)."""
    with session_factory() as session:
        yield session


@pytest.fixture
def admin(session: Session) -> User:
    return factories.user(session, "admin", Role.ADMIN)


@pytest.fixture
def manager(session: Session) -> User:
    return factories.user(session, "maker", Role.PROGRAM_MANAGER)


@pytest.fixture
def approver(session: Session) -> User:
    return factories.user(session, "checker", Role.APPROVER)


@pytest.fixture
def viewer(session: Session) -> User:
    return factories.user(session, "watcher", Role.VIEWER)


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    """The PHEE reference files beside the repository (never edited)."""
    if not SHARED_REFERENCE.is_dir():
        pytest.fail(f"reference files not found at {SHARED_REFERENCE}")
    return SHARED_REFERENCE
