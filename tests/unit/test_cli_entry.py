"""The console script's module stays light: a large send's worker process imports it again."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("typer", "rich", "sqlalchemy", "httpx", "fastapi", "celery")


def test_importing_the_console_entry_loads_no_command() -> None:
    # A fresh interpreter, as multiprocessing's spawn starts the send's worker: it runs the
    # console script again, whose only import is this package.
    probe = (
        "import sys, g2p_payment_phee.cli\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_entry_runs_the_command_line(monkeypatch, capsys) -> None:
    from g2p_payment_phee.cli import main

    monkeypatch.setattr("sys.argv", ["g2p-phee", "--help"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0
    assert "Pay social-protection benefits through Mifos Payment Hub EE" in capsys.readouterr().out
