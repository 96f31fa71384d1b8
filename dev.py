#!/usr/bin/env python3
"""Developer entry point that needs only Python >= 3.11 and git.

    python3 dev.py demo [ARGS]   the end-to-end demo on the embedded default (SQLite, no servers);
                                 --serve then serves the web UI over it
    python3 dev.py test [ARGS]   the whole test suite (pytest ARGS)
    python3 dev.py lint          ruff check, ruff format --check, mypy, lint-imports
    python3 dev.py i18n [AREA]   extract the messages of each area (web, cli, core, g2p_connect)
                                 and update its French and Spanish catalogs
    python3 dev.py g2p-phee ...  any command of the product

Each creates ``.venv`` on first use and reinstalls the project when pyproject.toml changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed-from"
CHROMIUM = "/usr/bin/chromium"
PACKAGE = ROOT / "src" / "g2p_payment_phee"
LOCALE = PACKAGE / "locale"
CATALOG_LANGUAGES = ("fr", "es")  # English is the source language: its messages are the msgids
I18N_KEYWORDS = (
    "_",
    "gettext",
    "ngettext:1,2",
    "lazy_gettext",
    "pgettext:1c,2",
    "lazy_pgettext:1c,2",
)
# Each area keeps its own catalog, locale/<lang>/LC_MESSAGES/<area>.po: (files, excluded). Paths
# are relative to the package; "core" is every module no other area claims.
I18N_AREAS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "web": (("web/**/*.py", "web/templates/**/*.html"), ()),
    "cli": (("cli/**/*.py",), ()),
    "g2p_connect": (("g2p_connect/**/*.py",), ()),
    "core": (("**/*.py",), ("web", "cli", "g2p_connect", "emulator", "migrations")),
}


def i18n_sources(area: str) -> list[Path]:
    """The source files whose messages go to ``area``'s catalog, sorted."""
    patterns, excluded = I18N_AREAS[area]
    found = {
        path
        for pattern in patterns
        for path in PACKAGE.glob(pattern)
        if path.relative_to(PACKAGE).parts[0] not in excluded
    }
    return sorted(found)


def i18n_extract(area: str, pot: Path, pybabel: str) -> int:
    """``pybabel extract`` of ``area``'s sources into the template ``pot``."""
    sources = [str(path.relative_to(ROOT)) for path in i18n_sources(area)]
    if not sources:
        return 0
    keywords = [arg for keyword in I18N_KEYWORDS for arg in ("-k", keyword)]
    return subprocess.run(
        [
            pybabel,
            "-q",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "--no-default-keywords",
            *keywords,
            "--project",
            "g2p-payment-phee",
            "-o",
            str(pot),
            *sources,
        ],
        cwd=ROOT,
        check=False,
    ).returncode


def i18n(areas: list[str]) -> int:
    """Extract each area's messages and update (or create) its French and Spanish catalogs."""
    pybabel = str(BIN / "pybabel")
    for area in areas or list(I18N_AREAS):
        if area not in I18N_AREAS:
            print(f"unknown area {area!r}; areas: {', '.join(I18N_AREAS)}", file=sys.stderr)
            return 2
        pot = LOCALE / f"{area}.pot"
        try:
            if i18n_extract(area, pot, pybabel) or not pot.exists():
                return 1
            for language in CATALOG_LANGUAGES:
                po = LOCALE / language / "LC_MESSAGES" / f"{area}.po"
                step = (
                    ["update", "--no-fuzzy-matching", "--ignore-obsolete"]
                    if po.exists()
                    else ["init"]
                )
                command = [pybabel, "-q", *step, "-i", str(pot), "-d", str(LOCALE), "-D", area]
                if run(*command, "-l", language):
                    return 1
        finally:
            pot.unlink(missing_ok=True)
    return 0


def ensure_venv() -> None:
    """Create the virtual environment and install the project with its dev extra, if needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may run on an older python3
        sys.exit(f"Python >= 3.11 is needed, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = (ROOT / "pyproject.toml").read_bytes()
    if STAMP.exists() and STAMP.read_bytes() == wanted:
        return
    print("installing g2p-payment-phee and its dependencies into .venv …", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_bytes(wanted)


def ensure_browser() -> None:
    """Debian's Chromium for the browser tests: installed with apt when missing and root."""
    if Path(CHROMIUM).exists():
        return
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing chromium for the browser tests (apt-get) …", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False, env=env)
    if not Path(CHROMIUM).exists():
        print(
            f"WARNING: {CHROMIUM} is missing; the browser tests will be skipped "
            "(they fail under CI=true). Install it with: apt-get install chromium",
            file=sys.stderr,
            flush=True,
        )


def run(*command: str) -> int:
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0 if argv else 2
    ensure_venv()
    task, rest = argv[0], argv[1:]
    if task == "demo":
        # the README's first command must end by itself: serve the UI only when asked (--serve)
        serving = [] if "--serve" in rest else ["--no-serve"]
        return run(str(BIN / "g2p-phee"), "demo", *serving, *rest)
    if task == "test":
        ensure_browser()
        return run(str(BIN / "python"), "-m", "pytest", *rest)
    if task == "lint":
        checks = [
            [str(BIN / "ruff"), "check", "."],
            [str(BIN / "ruff"), "format", "--check", "."],
            [str(BIN / "mypy")],
            [str(BIN / "lint-imports")],
        ]
        return max(run(*check) for check in checks)
    if task == "i18n":
        return i18n(rest)
    if task == "g2p-phee":
        return run(str(BIN / "g2p-phee"), *rest)
    print(f"unknown task {task!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
