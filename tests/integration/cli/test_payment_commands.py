"""Payment commands: manager secrets never printed, prepare's report, the exported file's bytes."""

from __future__ import annotations

import hashlib
import re
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.users.models import User
from tests import factories

SECRET = "Hunter2-hunter2-hunter2"


@pytest.fixture
def cli(
    db_url: str, session: Session, admin: User, approver: User, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("G2P_DATABASE_URL", db_url)
    monkeypatch.setenv("G2P_SECRET_PASSWORD", SECRET)
    monkeypatch.setenv("COLUMNS", "220")
    get_settings.cache_clear()
    program = factories.program(session, admin, name="Grant")
    factories.approved_cycle(session, admin, approver, program, beneficiaries=3, amount="700")
    session.commit()
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(app, ["--as", "admin", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def test_manager_secrets_are_never_printed(cli) -> None:
    out = cli(
        "managers", "configure", "Grant", "--kind", "phee",
        "--set", "tenant_id=gorilla", "--set", "payee_id_type=phone", "--secret", "password",
    )  # fmt: skip
    assert "password (secret)" in out
    assert SECRET not in out
    shown = cli("managers", "show", "Grant")
    assert SECRET not in shown
    assert "not set" in shown


def test_set_values_are_read_as_each_setting_s_type(cli) -> None:
    """A text setting keeps digits as text (it was once parsed as JSON and refused), a number
    and a flag are read as such, and an empty value clears an optional setting."""
    cli(
        "managers", "configure", "Grant", "--kind", "phee", "--set", "tenant_id=gorilla",
        "--set", "payee_id_type=phone", "--set", "payer_id=1010101010",
        "--set", "max_batch_size=250", "--set", "create_batch=false",
        "--set", "callback_base_url=",
    )  # fmt: skip
    shown = cli("managers", "show", "Grant")
    assert re.search(r"payer_id\s+│[^│\n]*│\s+1010101010", shown), shown
    assert re.search(r"max_batch_size\s+│[^│\n]*│\s+250", shown), shown
    assert re.search(r"create_batch\s+│[^│\n]*│\s+False", shown), shown


def test_show_prints_the_seed_s_label_beside_each_key(cli) -> None:
    cli(
        "managers", "configure", "Grant", "--kind", "phee",
        "--set", "tenant_id=gorilla", "--set", "payee_id_type=bank_acc_no",
    )  # fmt: skip
    shown = cli("managers", "show", "Grant")
    assert re.search(r"create_batch\s+│\s+Automatically Create Batch\s+│\s+True", shown), shown
    assert re.search(
        r"payee_id_type\s+│\s+Payee ID Field\s+│\s+bank_acc_no \(Bank Account Number\)", shown
    ), shown
    assert re.search(r"reg_id_type_for_payee_id\s+│\s+Payee DFSP ID Type\s+│", shown), shown
    assert re.search(r"password \(secret\)\s+│\s+Password\s+│\s+not set", shown), shown


def test_prepare_dry_run_then_prepare_then_export(cli, session: Session, tmp_path: Path) -> None:
    cli(
        "managers",
        "configure",
        "Grant",
        "--set",
        "tenant_id=gorilla",
        "--set",
        "payee_id_type=phone",
    )
    dry = cli("prepare", "C1", "--dry-run")
    assert "dry run: nothing written" in dry
    assert session.scalar(select(PaymentBatch.id)) is None
    done = cli("prepare", "C1")
    assert "payments created" in done
    assert "2,100.00 KES" in done
    batch = session.scalars(select(PaymentBatch)).one()
    target = tmp_path / "out.csv"
    cli("batches", "export-csv", batch.name, "--output", str(target))
    assert hashlib.sha256(target.read_bytes()).hexdigest() == batch.csv_sha256
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # payees' identifiers: owner only
    listing = cli("batches", "list", "C1")
    assert "prepared" in listing
    status = cli("status", "C1")
    assert "batches prepared" in status
    assert "2,100.00 KES" in status
