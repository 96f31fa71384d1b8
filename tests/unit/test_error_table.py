"""One table maps every product error to its HTTP status and its exit code: every class of the
tree declares its own row, the rows make sense, ``docs/errors.md`` shows the same table, and the
API and the command line answer what it says."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

import g2p_payment_phee
from g2p_payment_phee.cli import entry
from g2p_payment_phee.errors import (
    BusinessRuleViolation,
    Conflict,
    DatabaseUnavailable,
    G2PError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
    exit_code_for,
    http_status_for,
)
from g2p_payment_phee.phee.errors import PheeAuthError, PheeError, PheeUnavailable
from g2p_payment_phee.web.errors import install_api_error_handlers

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
RESERVED_EXIT_CODES = {0: "success", 1: "unexpected failure", 2: "usage"}


def _import_every_module() -> None:
    """Error classes exist once their module is imported: import the whole package."""
    prefix = g2p_payment_phee.__name__ + "."
    for module in pkgutil.walk_packages(g2p_payment_phee.__path__, prefix):
        importlib.import_module(module.name)


def _tree(cls: type[G2PError] = G2PError) -> Iterator[type[G2PError]]:
    yield cls
    for subclass in cls.__subclasses__():
        yield from _tree(subclass)


def every_error_class() -> list[type[G2PError]]:
    _import_every_module()
    return sorted(set(_tree()), key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


@pytest.mark.parametrize("cls", every_error_class(), ids=lambda cls: cls.__name__)
def test_every_error_class_declares_its_own_status_and_exit_code(cls: type[G2PError]) -> None:
    # Declared on the class itself: a new error never inherits its parent's row by accident.
    assert "http_status" in vars(cls), f"{cls.__name__} must declare http_status"
    assert "exit_code" in vars(cls), f"{cls.__name__} must declare exit_code"
    assert "code" in vars(cls), f"{cls.__name__} must declare its stable code"
    assert 400 <= cls.http_status <= 599
    assert cls.exit_code not in RESERVED_EXIT_CODES
    assert 3 <= cls.exit_code <= 125  # above 125 the shell speaks (126, 127, 128 + signal)


def test_an_exit_code_is_shared_only_within_one_branch_of_the_tree() -> None:
    # A subclass may keep its parent's code (a finer kind of the same failure); two errors of
    # unrelated meaning never share one, so scripts can tell them apart.
    by_code: dict[int, list[type[G2PError]]] = {}
    for cls in every_error_class():
        by_code.setdefault(cls.exit_code, []).append(cls)
    for code, classes in by_code.items():
        roots = [c for c in classes if not any(p in classes for p in c.__mro__[1:])]
        assert len(roots) == 1, f"exit code {code} means more than one thing: {roots}"


def test_error_codes_are_unique() -> None:
    codes = [cls.code for cls in every_error_class()]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(
    ("cls", "status", "exit_code"),
    [
        (PheeError, 502, 15),
        (PheeUnavailable, 503, 16),
        (PheeAuthError, 502, 17),  # the hub's 401 is not the caller's: never passed on
        (RateLimited, 429, 14),
        (NotAuthenticated, 401, 13),
        (NotFound, 404, 4),
        (PermissionDenied, 403, 5),
        (ValidationFailed, 422, 6),
        (Conflict, 409, 8),
        (BusinessRuleViolation, 409, 9),
        (DatabaseUnavailable, 503, 10),
    ],
)
def test_the_known_rows(cls: type[G2PError], status: int, exit_code: int) -> None:
    assert (cls.http_status, cls.exit_code) == (status, exit_code)


def _documented_rows() -> dict[str, tuple[str, int, int]]:
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \| (\d+) \| (\d+) \|$", DOC.read_text(), re.M)
    return {name: (code, int(status), int(exit_)) for name, code, status, exit_ in rows}


def test_the_documentation_shows_the_same_table() -> None:
    rows = {c.__name__: (c.code, c.http_status, c.exit_code) for c in every_error_class()}
    assert _documented_rows() == rows


def test_the_documentation_explains_every_exit_code() -> None:
    explained = {int(code) for code in re.findall(r"^\| (\d+) \| \S", DOC.read_text(), re.M)}
    used = {cls.exit_code for cls in every_error_class()}
    assert explained == used | set(RESERVED_EXIT_CODES)


# --- the edges read the table ------------------------------------------------------------------


def _hub_down() -> PheeUnavailable:
    return PheeUnavailable(
        "PHEE status read failed: no answer from GET https://hub.test/batch",
        endpoint="GET https://hub.test/batch",
        maybe_delivered=False,
    )


def _hub_refused() -> PheeAuthError:
    return PheeAuthError(
        "PHEE token failed: POST https://hub.test/oauth/token answered 401",
        endpoint="POST https://hub.test/oauth/token",
        status=401,
    )


def _database_lost() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("connection refused"))


@pytest.fixture
def api() -> TestClient:
    """An app with the API's error handlers, whose one route raises the error it is given."""
    app = FastAPI()
    install_api_error_handlers(app)
    raised: dict[str, Exception] = {}

    @app.get("/raise/{name}")
    def raise_it(name: str) -> None:
        raise raised[name]

    raised.update(
        hub_down=_hub_down(),
        hub_refused=_hub_refused(),
        limited=RateLimited("too many failed sign-ins", retry_after=30),
        database=_database_lost(),
        plain=G2PError("not uploaded: the claims lapsed"),
    )
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("hub_down", 503, "phee_unavailable"),
        ("hub_refused", 502, "phee_auth_failed"),
        ("limited", 429, "rate_limited"),
        ("database", 503, "database_unavailable"),
        ("plain", 500, "error"),
    ],
)
def test_the_api_answers_the_tables_status(api: TestClient, name: str, status: int, code: str):
    answer = api.get(f"/raise/{name}")
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code


def test_a_hub_refusing_our_token_is_not_the_callers_401(api: TestClient) -> None:
    answer = api.get("/raise/hub_refused")
    assert "WWW-Authenticate" not in answer.headers
    assert "answered 401" in answer.json()["error"]["message"]


def test_rate_limited_answers_say_when_to_try_again(api: TestClient) -> None:
    assert api.get("/raise/limited").headers["Retry-After"] == "30"


def test_a_lost_database_answer_says_nothing_of_the_driver(api: TestClient) -> None:
    assert "connection refused" not in api.get("/raise/database").text


@pytest.mark.parametrize(
    ("error", "exit_code", "line"),
    [
        (_hub_down(), 16, "error: PHEE status read failed: no answer from GET https://hub.test"),
        (_hub_refused(), 17, "error: PHEE token failed"),
        (RateLimited("too many attempts", retry_after=5), 14, "error: too many attempts"),
        (_database_lost(), 10, "error: database unavailable: Exception: connection refused"),
        (PheeError("body [/b] [REDACTED]", endpoint="x"), 15, "error: body [/b] [REDACTED]"),
        (RuntimeError("boom"), 1, "internal error: RuntimeError: boom"),
    ],
    ids=["hub down", "hub refused", "rate limited", "database", "brackets", "unexpected"],
)
def test_the_command_line_exits_with_the_tables_code(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    exit_code: int,
    line: str,
) -> None:
    def failing_command() -> None:
        raise error

    monkeypatch.setattr(entry, "app", failing_command)
    monkeypatch.setattr("sys.argv", ["g2p-phee", "programs", "list"])
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == exit_code
    assert line in capsys.readouterr().err


@pytest.mark.parametrize("cls", every_error_class(), ids=lambda cls: cls.__name__)
def test_the_lookups_are_the_classes_rows(cls: type[G2PError]) -> None:
    error = cls.__new__(cls)  # any constructor: only the class matters
    assert (http_status_for(error), exit_code_for(error)) == (cls.http_status, cls.exit_code)
