"""``g2p-phee users token NAME``: a personal API token for the acting user, usable at once."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.users.auth import API_TOKEN_PREFIX, token_user
from g2p_payment_phee.users.models import User


def test_the_token_is_printed_once_and_signs_its_user_in(
    db_url: str,
    session: Session,
    session_factory: sessionmaker[Session],
    viewer: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session.commit()
    monkeypatch.setenv("G2P_DATABASE_URL", db_url)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["--as", viewer.username, "users", "token", "ci"])
    assert result.exit_code == 0, result.output
    [line] = [w for w in result.output.split() if w.startswith(API_TOKEN_PREFIX)]
    with session_factory() as fresh:
        assert token_user(fresh, line).username == viewer.username
    refused = CliRunner().invoke(app, ["users", "token", "ci"])  # no acting user
    assert refused.exit_code != 0
