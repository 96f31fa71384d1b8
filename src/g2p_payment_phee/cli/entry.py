"""The console script's work: run the command line, every error as one clear line.

Exit codes scripts can trust: 0 success, 1 unexpected failure, 2 usage error, and one code per
kind of business error (see ``errors.EXIT_CODES``).
"""

from __future__ import annotations

import logging
import sys
import traceback

from rich.console import Console
from sqlalchemy.exc import OperationalError

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.errors import G2PError, ValidationFailed, exit_code_for

err_console = Console(stderr=True, highlight=False)


def _report(error: BaseException) -> int:
    if isinstance(error, G2PError):
        err_console.print(f"[red]error:[/red] {error.message}", markup=True, soft_wrap=True)
        if isinstance(error, ValidationFailed):
            for problem in error.errors[:50]:
                err_console.print(f"  - {problem}", markup=False, soft_wrap=True)
        return exit_code_for(error)
    if isinstance(error, OperationalError):
        err_console.print(f"[red]error:[/red] database unavailable: {error.orig}", soft_wrap=True)
        return 10
    err_console.print(
        f"[red]internal error:[/red] {type(error).__name__}: {error} (--debug shows the traceback)",
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
