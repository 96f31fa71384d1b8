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
from g2p_payment_phee.db import database_problem, is_database_lost
from g2p_payment_phee.errors import DatabaseUnavailable, G2PError, ValidationFailed, exit_code_for

err_console = Console(stderr=True, highlight=False)


def _report(error: BaseException) -> int:
    """Print ``error`` as one line (and the problems of invalid input); its exit code."""
    if is_database_lost(error):
        error = DatabaseUnavailable(f"database unavailable: {database_problem(error)}")
    if isinstance(error, G2PError):
        # escaped: a message may quote a hub's answer, whose brackets are not markup
        err_console.print(f"[red]error:[/red] {escape(error.message)}", soft_wrap=True)
        if isinstance(error, ValidationFailed):
            for problem in error.errors[:50]:
                err_console.print(f"  - {problem}", markup=False, soft_wrap=True)
        return exit_code_for(error)
    err_console.print(
        f"[red]internal error:[/red] {type(error).__name__}: {escape(str(error))} "
        "(--debug shows the traceback)",
        soft_wrap=True,
    )
    return 1


def main() -> None:
    """Entry point of the console script."""
    debug = "--debug" in sys.argv
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as error:  # the edge where every error becomes one line and an exit code
        if debug:
            traceback.print_exc()
        logging.shutdown()
        sys.exit(_report(error))
