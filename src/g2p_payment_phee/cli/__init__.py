"""The ``g2p-phee`` command line: thin commands over the services, errors as one clear line.

This module stays light on purpose: it is what the console script imports, and the commands
load only when ``main`` runs (``cli/entry.py``).
"""

from __future__ import annotations


def main() -> None:
    """Entry point of the console script: run the command line (``cli.entry``)."""
    from g2p_payment_phee.cli.entry import main as run

    run()
