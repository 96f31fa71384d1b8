"""``g2p-phee id-types``: create, list and disable, with one-line errors for bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import G2PError, exit_code_for
from g2p_payment_phee.registry.models import IdType, Registrant
from g2p_payment_phee.users.models import User

Run = Callable[..., tuple[int, str]]


@pytest.fixture
def run(db_url: str, manager: User, session: Session, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``g2p-phee --as maker ARGS``: a product error becomes its exit code and its message."""
    session.commit()
    monkeypatch.setenv("G2P_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--as", manager.username, *args])
        error = result.exception
        if error is None or isinstance(error, SystemExit):
            return result.exit_code, result.output
        if not isinstance(error, G2PError):
            raise error
        return exit_code_for(error), result.output + error.message

    return invoke


def test_create_list_disable_and_import(run: Run, session: Session, tmp_path: Path) -> None:
    code, out = run(
        "id-types", "create", "National ID", "--pattern", "[0-9]{8}", "--description", "Kenya"
    )
    assert (code, out.strip()) == (0, "created ID type National ID (pattern [0-9]{8})")
    assert run("id-types", "create", "Passport")[1].strip() == (
        "created ID type Passport (no pattern)"
    )
    people = tmp_path / "people.csv"
    people.write_text("reference,name,id_type,id_value\nP1,Ann,National ID,12345678\n")
    assert run("import", "registrants", str(people))[0] == 0

    code, out = run("id-types", "disable", "passport")
    assert (code, out.strip()) == (0, "disabled ID type Passport: it takes no new IDs")
    code, out = run("id-types", "list")
    assert code == 0
    lines = [line for line in out.splitlines() if "National ID" in line or "Passport" in line]
    for shown in ("[0-9]{8}", "Kenya", "enabled"):
        assert shown in lines[0]
    assert "disabled 20" in lines[1]

    people.write_text("reference,name,id_type,id_value\nP2,Bo,Passport,A1\n")
    code, out = run("import", "registrants", str(people))
    assert "the ID type 'Passport' is disabled: it takes no new IDs" in out
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Registrant)) == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("create", "Passport", "--pattern", "[A-Z"), 6, "validation_regex: '[A-Z' is not a valid"),
        (("create", "National ID"), 8, "an ID type named 'National ID' already exists"),
        (("disable", "Visa"), 4, "no ID type 'Visa' (known: National ID)"),
    ],
)
def test_bad_input_is_one_clear_error_and_writes_nothing(
    run: Run, session: Session, args: tuple[str, ...], code: int, message: str
) -> None:
    assert run("id-types", "create", "National ID")[0] == 0
    got, out = run("id-types", *args)
    assert got == code, out
    assert message in out
    session.expire_all()
    assert session.scalars(select(IdType.name)).all() == ["National ID"]
