"""Standalone emulator: ``g2p-phee emulator`` / ``python -m g2p_payment_phee.emulator``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import uvicorn

from .app import create_app
from .config import EmulatorConfig
from .server import EmulatorUvicorn, uvicorn_config


def load_config(path: Path | None) -> EmulatorConfig:
    """Read an emulator config from a ``.json`` or ``.toml`` file (None: the defaults)."""
    if path is None:
        return EmulatorConfig()
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    return EmulatorConfig.model_validate(data)


def run(
    host: str,
    port: int,
    config_path: Path | None,
    *,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve the emulator with uvicorn until interrupted (blocking)."""
    app = create_app(load_config(config_path))
    config = uvicorn_config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        log_config=uvicorn.config.LOGGING_CONFIG,
    )
    EmulatorUvicorn(config, app.state.emulator).run()
