"""Row ids: time-ordered UUIDs (version 7, RFC 9562), increasing within the process.

Every row this product creates gets one: 48 bits of Unix milliseconds, then 74 bits that start
random each millisecond and grow by a random step within it. Rows made one after another get
neighbouring keys, so the indexes that hold those keys are appended to at their right edge instead
of at random places, and rows made together are read together: a cycle's entitlements (generated
in registrant order) follow their registrants and phones, and preparing a million of them walks
the registry in order instead of probing it at random. The random bits keep ids unguessable
enough to be no help to anyone (ids are never a secret in this product; access is checked).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from itertools import accumulate

_RANDOM_BITS = 74  # 12 bits of rand_a and 62 of rand_b
_MASK_B = (1 << 62) - 1
_STEP_BYTES = 4  # each id is 1 .. 2**32 above the one before it in the same millisecond
_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62

_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def _reserve(count: int) -> tuple[int, list[int]]:
    """A millisecond and ``count`` increasing 74-bit values for it, above every value handed out
    before (the clock going back or a busy millisecond move on from the last one)."""
    global _last_ms, _last_random
    steps = os.urandom(_STEP_BYTES * count)
    values = accumulate(
        int.from_bytes(steps[i : i + _STEP_BYTES], "big") + 1
        for i in range(0, len(steps), _STEP_BYTES)
    )
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            # A fresh start in the lower half of the space leaves room for 2**41 steps.
            start = int.from_bytes(os.urandom(10), "big") >> (80 - _RANDOM_BITS + 1)
        else:
            ms, start = _last_ms, _last_random
        randoms = [start + v for v in values]
        if randoms[-1] >> _RANDOM_BITS:  # the millisecond is used up: borrow the next one
            ms += 1
            randoms = [v - start for v in randoms]
        _last_ms, _last_random = ms, randoms[-1]
    return ms, randoms


def _as_int(ms: int, random: int) -> int:
    return (ms << 80) | _VERSION | ((random >> 62) << 64) | _VARIANT | (random & _MASK_B)


def new_id() -> uuid.UUID:
    """The next row id."""
    ms, (random,) = _reserve(1)
    return uuid.UUID(int=_as_int(ms, random))


def new_id_texts(count: int) -> list[str]:
    """The next ``count`` row ids as canonical text, ascending (for bulk writers)."""
    if count <= 0:
        return []
    ms, randoms = _reserve(count)
    texts = []
    for random in randoms:
        h = f"{_as_int(ms, random):032x}"
        texts.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return texts
