"""Settings: embedded defaults, the generated secret key, scale mode refusing defaults."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from g2p_payment_phee.config import Mode, get_settings
from g2p_payment_phee.errors import ConfigurationError


def test_embedded_default_is_a_sqlite_file_under_the_data_folder(tmp_path: Path) -> None:
    settings = get_settings()
    assert settings.mode is Mode.EMBEDDED
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'g2p.sqlite3'}"


def test_embedded_secret_is_generated_once_and_owner_only(tmp_path: Path) -> None:
    settings = get_settings()
    key = settings.secret()
    path = tmp_path / "var" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.secret() == key
    assert len(key) >= 32


def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    get_settings().secret()
    (tmp_path / "var" / "secret.key").chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        get_settings().secret()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"G2P_MODE": "scale"}, "G2P_DATABASE_URL is required"),
        (
            {"G2P_MODE": "scale", "G2P_DATABASE_URL": "postgresql://db/g2p"},
            "G2P_SECRET_KEY is required",
        ),
        ({"G2P_SECRET_KEY": "short"}, "at least 32"),
        (
            {"G2P_DEFAULT_PHONE_REGION": "QQ"},
            "G2P_DEFAULT_PHONE_REGION: 'QQ' is not a phone region",
        ),
        ({"G2P_LOG_LEVEL": "chatty"}, "G2P_LOG_LEVEL"),
    ],
)
def test_bad_settings_give_one_clear_message(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        get_settings()


def test_phone_region_is_upper_cased(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("G2P_DEFAULT_PHONE_REGION", "ke")
    assert get_settings().default_phone_region == "KE"
