"""The console script's work: run the command line, every error as one clear line.

Exit codes scripts can trust: 0 success, 1 unexpected failure, 2 usage error, and one code per
kind of product error, from the table in ``g2p_payment_phee.errors`` (a lost database is its
``DatabaseUnavailable``).
"""

from __future__ import annotations

import logging
import sys
import traceback

from rich.console import Console
from rich.markup import escape

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.cli.context import cli_language
from g2p_payment_phee.db import database_problem, is_database_lost
from g2p_payment_phee.errors import DatabaseUnavailable, G2PError, ValidationFailed, exit_code_for
from g2p_payment_phee.i18n import _, use

err_console = Console(stderr=True, highlight=False)


def _report(error: BaseException) -> int:
    """Print ``error`` as one line (and the problems of invalid input); its exit code."""
    if is_database_lost(error):
        error = DatabaseUnavailable(
            _("database unavailable: {database_problem}").format(
                database_problem=database_problem(error)
            )
        )
    if isinstance(error, G2PError):
        # escaped: a message may quote a hub's answer, whose brackets are not markup
        err_console.print(
            _("[red]error:[/red] {message}").format(message=escape(error.message)), soft_wrap=True
        )
        if isinstance(error, ValidationFailed):
            for problem in error.errors[:50]:
                err_console.print(f"  - {problem}", markup=False, soft_wrap=True)
        return exit_code_for(error)
    err_console.print(
        _("[red]internal error:[/red] {kind}: {error} (--debug shows the traceback)").format(
            kind=type(error).__name__, error=escape(str(error))
        ),
        soft_wrap=True,
    )
    return 1


def main() -> None:
    """Entry point of the console script."""
    with use(language=cli_language()):
        _run()


def _run() -> None:
    debug = "--debug" in sys.argv
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err_console.print(_("interrupted"))
        sys.exit(130)
    except Exception as error:  # the edge where every error becomes one line and an exit code
        if debug:
            traceback.print_exc()
        logging.shutdown()
        sys.exit(_report(error))
