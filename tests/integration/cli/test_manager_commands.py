"""``g2p-phee managers defaults …`` and ``managers list``: the hub-wide PHEE defaults (secrets
never printed), a bad URL refused with nothing saved, every program's last test connection."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.emulator import EmulatorServer
from g2p_payment_phee.errors import G2PError, exit_code_for
from g2p_payment_phee.phee.models import PheeDefaults
from g2p_payment_phee.users.models import User
from tests.integration.phee.conftest import PheeProgram

Run = Callable[..., tuple[int, str]]
SECRET = "ochre-falcon-5512"


@pytest.fixture
def run(db_url: str, admin: User, session: Session, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``g2p-phee --as admin ARGS``: a product error becomes its exit code and its message."""
    session.commit()
    monkeypatch.setenv("G2P_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        result = runner.invoke(app, ["--as", admin.username, *args], env=env)
        error = result.exception
        if error is None or isinstance(error, SystemExit):
            return result.exit_code, result.output
        if not isinstance(error, G2PError):
            raise error
        return exit_code_for(error), result.output + error.message

    return invoke


def test_defaults_set_and_show_never_print_a_secret(run: Run, hub: EmulatorServer) -> None:
    code, out = run(
        "managers", "defaults", "set",
        "--set", f"payment_endpoint_url={hub.base_url}/batchtransactions",
        "--set", "tenant_id=gorilla",
        "--set", "payment_mode=gsma",
        "--secret", "password",
        env={"G2P_SECRET_PASSWORD": SECRET},
    )  # fmt: skip
    assert code == 0, out
    assert "gorilla" in out
    assert SECRET not in out
    code, out = run("managers", "defaults", "show")
    assert code == 0
    assert "Payment Endpoint URL" in out
    assert "password (secret)" in out
    assert SECRET not in out
    assert "not set" in out  # authorization

    code, out = run(
        "managers", "defaults", "set", "--set", "payment_mode=", "--clear-secret", "password"
    )
    assert code == 0
    assert "gsma" not in out


def test_bad_urls_are_each_named_and_nothing_is_saved(run: Run, session: Session) -> None:
    code, out = run(
        "managers", "defaults", "set",
        "--set", "payment_endpoint_url=ftp://hub.test/batchtransactions",
        "--set", "callback_base_url=https://g2p.test/cb#frag",
        "--set", "tenant_id=gorilla",
    )  # fmt: skip
    assert code == 6, out
    assert "payment_endpoint_url: 'ftp://hub.test/batchtransactions' is not an http(s) URL" in out
    assert "callback_base_url: the URL must not carry a query or fragment" in out
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(PheeDefaults)) == 0


def test_list_shows_each_program_s_last_test_connection(
    run: Run, phee_program: PheeProgram
) -> None:
    code, out = run("managers", "list")
    assert code == 0
    assert "Payment Hub EE" in out
    assert "never tested" in out
    assert f"{phee_program.hub.base_url}/batchtransactions" in out

    phee_program.configure(payment_mode="IMMEDIATE")
    code, out = run("managers", "test-connection", phee_program.program.name)
    assert code == 0, out
    assert "warning: payment mode 'IMMEDIATE' is not one the hub knows" in out
    assert "payment modes at the hub: closedloop, gsma, mojaloop, slcb" in out

    code, out = run("managers", "list")
    assert code == 0
    row = next(line for line in out.splitlines() if phee_program.program.name in line)
    assert "warning" in row
    assert "UTC" in row
