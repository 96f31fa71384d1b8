"""The g2p-phee command line over the foundation: exit codes, one-line errors, the whole flow."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import G2PError, exit_code_for
from g2p_payment_phee.programs.models import Entitlement
from g2p_payment_phee.users.models import User
from tests import factories

PASSWORD = "a-long-password"


@pytest.fixture
def run(db_url: str, engine: object, monkeypatch: pytest.MonkeyPatch):
    """Run g2p-phee against the test database; returns (exit code, combined output)."""
    monkeypatch.setenv("G2P_DATABASE_URL", db_url)
    monkeypatch.setenv("G2P_NEW_USER_PASSWORD", PASSWORD)
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        """As ``main`` does: a business error becomes its exit code and its one line."""
        result = runner.invoke(app, list(args))
        error = result.exception
        if error is None or isinstance(error, SystemExit):
            return result.exit_code, result.output
        if not isinstance(error, G2PError):
            raise error
        return exit_code_for(error), result.output + error.message

    return invoke


def test_errors_are_one_line_with_a_trustworthy_exit_code(run, monkeypatch) -> None:
    from g2p_payment_phee.cli import main

    assert run("init")[0] == 0
    assert run("users", "create", "root", "--role", "admin")[0] == 0
    monkeypatch.setattr("sys.argv", ["g2p-phee", "--as", "ghost", "users", "list"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 5


def test_a_cycle_from_registrants_to_approval(run, tmp_path: Path) -> None:
    assert run("init")[0] == 0
    assert run("users", "create", "root", "--role", "admin")[0] == 0
    for name, role in (("maker", "program_manager"), ("checker", "approver")):
        assert run("--as", "root", "users", "create", name, "--role", role)[0] == 0
    people = tmp_path / "people.csv"
    people.write_text("reference,name,phone\nP1,Ann Doe,+254712345678\nP2,Bo Li,+254712345679\n")
    code, out = run("--as", "maker", "import", "registrants", str(people))
    assert code == 0, out
    assert "2 created" in out or "imported 2" in out
    assert run("--as", "maker", "programs", "create", "Grant", "--currency", "KES")[0] == 0
    assert "enrolled 2" in run("--as", "maker", "programs", "enrol", "Grant", "--all")[1]
    args = ("--start", "2027-01-01", "--end", "2027-01-31")
    assert run("--as", "maker", "cycles", "create", "Grant", "Jan", *args)[0] == 0
    assert run("--as", "maker", "cycles", "add-entitlements", "Jan", "--amount", "500")[0] == 0
    assert run("--as", "maker", "cycles", "submit", "Jan")[0] == 0
    code, out = run("--as", "checker", "cycles", "approve", "Jan")
    assert (code, "2 entitlements approved" in out) == (0, True)
    code, out = run("--as", "checker", "cycles", "list")
    assert "approved" in out
    assert "1,000.00 KES" in out


def test_a_checker_rejects_one_entitlement_before_approving(run, engine: Engine) -> None:
    assert run("init")[0] == 0
    assert run("users", "create", "root", "--role", "admin")[0] == 0
    for name, role in (("maker", "program_manager"), ("checker", "approver")):
        assert run("--as", "root", "users", "create", name, "--role", role)[0] == 0
    session = Session(engine)
    root = session.scalars(select(User).where(User.username == "root")).one()
    program = factories.program(session, root, name="Grant")
    factories.cycle_with_entitlements(session, root, program, beneficiaries=2, amount="500")
    session.commit()
    assert run("--as", "maker", "cycles", "submit", "C1")[0] == 0
    codes = sorted(session.scalars(select(Entitlement.code)))
    reject = ("cycles", "reject-entitlement", "C1", codes[0], "--reason", "moved away")
    assert run("--as", "maker", *reject)[0] == 5  # an approver's decision
    code, out = run("--as", "checker", *reject)
    assert (code, f"entitlement {codes[0]} is rejected" in out) == (0, True)
    code, out = run("--as", "checker", "cycles", "approve", "C1")
    assert (code, "1 entitlements approved" in out) == (0, True)
    code, out = run(
        "--as", "checker", "cycles", "reject-entitlement", "C1", codes[1], "--reason", "x"
    )
    assert (code, "while their cycle waits for approval" in out) == (9, True)
    session.close()


def test_import_with_bad_rows_commits_the_good_ones_and_exits_6(run, tmp_path: Path) -> None:
    assert run("init")[0] == 0
    assert run("users", "create", "root", "--role", "admin")[0] == 0
    people = tmp_path / "people.csv"
    people.write_text("reference,name,email\nP1,Ann,ann@example.org\nP2,Bo,not-an-email\n")
    code, out = run("--as", "root", "import", "registrants", str(people))
    assert code == 6
    assert "email" in out
    code, out = run("--as", "root", "import", "registrants", str(people), "--dry-run")
    assert code == 6
    assert "dry run" in out


def test_commands_refuse_an_uninitialised_database(
    run, db_url: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("G2P_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    get_settings.cache_clear()
    code, out = run("--as", "root", "programs", "list")
    assert (code, "run g2p-phee init" in out) == (3, True)
