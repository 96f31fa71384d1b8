"""The emulator's clock: wall time plus an offset that tests can advance instead of sleeping."""

from __future__ import annotations

import time


class Clock:
    """Epoch seconds; :meth:`advance` moves every timer (transfers, tokens) forward at once."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """Current emulated time in epoch seconds."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Jump forward by ``seconds`` (never backward)."""
        self._offset += max(seconds, 0.0)

    def reset(self) -> None:
        """Back to wall time."""
        self._offset = 0.0

    @property
    def offset(self) -> float:
        """How far the clock has been advanced."""
        return self._offset
