"""g2p-phee speaks the language of G2P_LANGUAGE, else of the POSIX locale, else English."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.config import get_settings

LOCALE_VARIABLES = ("G2P_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


@pytest.fixture
def fresh_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty SQLite database (no schema yet) and no language chosen by the environment."""
    for name in LOCALE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("G2P_DATABASE_URL", f"sqlite:///{tmp_path / 'g2p.sqlite3'}")
    monkeypatch.setenv("G2P_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    return tmp_path


def _fail(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the console script on a database never initialised: exit code and error output."""
    from g2p_payment_phee.cli import main

    monkeypatch.setattr("sys.argv", ["g2p-phee", "--as", "root", "programs", "list"])
    with pytest.raises(SystemExit) as exited:
        main()
    code = exited.value.code
    assert isinstance(code, int)
    return code, " ".join(capsys.readouterr().err.split())


@pytest.mark.usefixtures("fresh_database")
def test_g2p_language_fr_makes_the_error_french(monkeypatch, capsys) -> None:
    monkeypatch.setenv("G2P_LANGUAGE", "fr")
    monkeypatch.setenv("LANG", "es_ES.UTF-8")  # G2P_LANGUAGE comes first
    code, err = _fail(monkeypatch, capsys)
    assert code == 3
    assert err == (
        "erreur : la base de données n'est pas initialisée ou n'est pas à jour : "
        "lancez g2p-phee init"
    )


@pytest.mark.usefixtures("fresh_database")
def test_a_spanish_posix_locale_makes_the_error_spanish(monkeypatch, capsys) -> None:
    monkeypatch.setenv("LANG", "es_ES.UTF-8")
    code, err = _fail(monkeypatch, capsys)
    assert code == 3
    assert err == (
        "error: la base de datos no está inicializada o está desactualizada: ejecute g2p-phee init"
    )


@pytest.mark.usefixtures("fresh_database")
def test_without_a_language_or_with_an_unsupported_one_the_error_is_english(
    monkeypatch, capsys
) -> None:
    english = "error: the database is not initialised or is outdated: run g2p-phee init"
    assert _fail(monkeypatch, capsys) == (3, english)
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    assert _fail(monkeypatch, capsys) == (3, english)


def test_command_output_follows_the_language_too(fresh_database: Path, monkeypatch) -> None:
    # run as the tests run the app (not through main): the root callback sets the language
    monkeypatch.setenv("LC_ALL", "fr_FR.UTF-8")
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()).startswith("base de données prête : sqlite:///")
    assert (fresh_database / "g2p.sqlite3").exists()
