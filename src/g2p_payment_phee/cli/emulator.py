"""``g2p-phee emulator``: a local Payment Hub EE on this machine (docs/emulator.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from g2p_payment_phee.cli.context import console
from g2p_payment_phee.i18n import _


def emulator(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 8080,
    config: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="JSON or TOML config")
    ] = None,
) -> None:
    """Run the PHEE emulator (bulk processor and operations API) until interrupted."""
    from g2p_payment_phee.emulator.cli import run

    console.print(
        _("PHEE emulator on http://{host}:{port} (admin API under /_emulator)").format(
            host=host, port=port
        )
    )
    run(host, port, config)
