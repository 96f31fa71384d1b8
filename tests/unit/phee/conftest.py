"""Fixtures for the PHEE client unit tests: the shared signature vectors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import SHARED_REFERENCE


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    """``phee-signature-vectors.json`` (fails loudly when the shared folder is missing)."""
    path = SHARED_REFERENCE / "phee-signature-vectors.json"
    if not path.is_file():
        pytest.fail(f"signature vectors not found at {path}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
