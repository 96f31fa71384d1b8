"""``g2p-phee reports cycle``: the report written owner-only with its rows counted; an unknown
format refused with the reason and no file; an empty cycle's header-only report said so."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import ValidationFailed, exit_code_for
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.payments.reconciliation_world import every_outcome_cycle

Run = Callable[..., Result]


@pytest.fixture
def run(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("G2P_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["--as", "watcher", "reports", "cycle", *args])


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_writes_the_report_readable_by_its_owner_only(
    run: Run, session: Session, admin: User, approver: User, viewer: User, out: Path
) -> None:
    every_outcome_cycle(session, admin, approver)
    session.commit()
    result = run("2027-01", "--program", "Grant in KES", "--output", str(out / "r.xlsx"))
    assert result.exit_code == 0, result.output
    assert f"wrote 9 rows to {out / 'r.xlsx'} (xlsx)" in result.output
    assert stat.S_IMODE((out / "r.xlsx").stat().st_mode) == 0o600
    assert openpyxl.load_workbook(out / "r.xlsx").sheetnames == ["Summary", "Payments"]
    result = run("2027-01", "--format", "CSV", "-o", str(out / "r.csv"))
    assert result.exit_code == 0, result.output
    assert len((out / "r.csv").read_text(encoding="utf-8").splitlines()) == 10


def test_an_unknown_format_is_refused_and_writes_nothing(
    run: Run, session: Session, admin: User, approver: User, viewer: User, out: Path
) -> None:
    every_outcome_cycle(session, admin, approver)
    session.commit()
    result = run("2027-01", "--format", "pdf", "--output", str(out / "r.pdf"))
    assert isinstance(result.exception, ValidationFailed)
    assert exit_code_for(result.exception) == 6
    assert result.exception.message == "unknown report format 'pdf': csv or xlsx"
    assert list(out.iterdir()) == []


def test_an_empty_cycle_gives_the_header_only(
    run: Run, session: Session, admin: User, viewer: User, out: Path
) -> None:
    cycle = factories.pending_cycle(session, admin, beneficiaries=1)
    session.commit()
    result = run(cycle.name, "--format", "csv", "--output", str(out / "r.csv"))
    assert result.exit_code == 0, result.output
    assert "no beneficiaries to report" in result.output
    assert len((out / "r.csv").read_text(encoding="utf-8").splitlines()) == 1
