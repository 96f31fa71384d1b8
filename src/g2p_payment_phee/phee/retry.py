"""Retries for reads that are safe to repeat (SPEC 5.6): token, summary, details, batch list.

Capped exponential backoff with jitter, only on :class:`PheeUnavailable`.  Uploads are never
retried here: whether to send a batch again is the sender's decision, after a lookup.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from g2p_payment_phee.phee.errors import PheeUnavailable

__all__ = ["RetryPolicy"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a read is repeated.

    ``attempts`` counts the first try (1 = no retry).  The n-th wait (n from 0) is drawn
    uniformly from ``[cap/2, cap]`` with ``cap = min(max_delay, base_delay * 2**n)``.
    ``sleep`` and ``jitter`` (a draw in [0, 1)) are injectable: tests neither wait nor gamble.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        cap = min(self.max_delay, self.base_delay * 2.0**retry)
        return cap / 2 + self.jitter() * cap / 2

    def run(self, call: Callable[[], T], what: str) -> T:
        """``call()``, repeated after a PheeUnavailable until the attempts are used up."""
        for retry in range(self.attempts - 1):
            try:
                return call()
            except PheeUnavailable as error:
                wait = self.delay(retry)
                log.warning("%s: %s; retrying in %.2f s", what, error.message, wait)
                self.sleep(wait)
        return call()
