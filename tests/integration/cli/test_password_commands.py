"""``g2p-phee users password`` and ``users reset-password``: the same rules as the web."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import G2PError, PermissionDenied
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.service import authenticate
from tests.factories import PASSWORD

NEW = "gravel-otter-lantern"


@pytest.fixture
def cli_db(
    db_url: str, session: Session, admin: User, viewer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    session.commit()  # the users must be visible to the command's own connection
    monkeypatch.setenv("G2P_DATABASE_URL", db_url)
    get_settings.cache_clear()


def _refusal(result: Result) -> str:
    """The business error a command ended with (``main`` prints it as one line)."""
    assert isinstance(result.exception, G2PError), result.output
    return result.exception.message


@pytest.mark.usefixtures("cli_db")
def test_own_password_needs_the_current_one(
    session_factory: sessionmaker[Session], viewer: User
) -> None:
    command = ["--as", viewer.username, "users", "password"]
    wrong = CliRunner().invoke(app, command, input=f"not-it-at-all\n{NEW}\n{NEW}\n")
    assert "current password is wrong" in _refusal(wrong)
    done = CliRunner().invoke(app, command, input=f"{PASSWORD}\n{NEW}\n{NEW}\n")
    assert done.exit_code == 0, done.output
    with session_factory() as fresh:
        assert authenticate(fresh, viewer.username, NEW) is not None


@pytest.mark.usefixtures("cli_db")
def test_reset_is_for_admins_and_refuses_weak_passwords(
    session_factory: sessionmaker[Session], admin: User, viewer: User
) -> None:
    def reset(actor: str, password: str) -> Result:
        return CliRunner().invoke(
            app,
            ["--as", actor, "users", "reset-password", viewer.username, "--password", password],
        )

    assert isinstance(reset(viewer.username, NEW).exception, PermissionDenied)
    assert "too easy" in _refusal(reset(admin.username, "qwertyuiop"))
    done = reset(admin.username, NEW)
    assert done.exit_code == 0, done.output
    with session_factory() as fresh:
        assert authenticate(fresh, viewer.username, NEW) is not None
        assert authenticate(fresh, viewer.username, PASSWORD) is None
