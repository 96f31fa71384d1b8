"""``python -m g2p_payment_phee.emulator --host 127.0.0.1 --port 8480 [--config file]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .cli import run


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve the emulator."""
    parser = argparse.ArgumentParser(prog="python -m g2p_payment_phee.emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8480)
    parser.add_argument("--config", type=Path, default=None, help="JSON or TOML config file")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    run(args.host, args.port, args.config, log_level=args.log_level, access_log=args.access_log)


if __name__ == "__main__":
    main()
