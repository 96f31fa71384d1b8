"""bulk: the block UUID maker gives valid, time-ordered version 7 UUIDs."""

from __future__ import annotations

import time
import uuid

from g2p_payment_phee.bulk import uuid7_texts


def test_uuid7_texts_are_time_ordered_version_7_uuids() -> None:
    before = time.time_ns() // 1_000_000
    first, second = uuid7_texts(1000), uuid7_texts(1000)
    after = time.time_ns() // 1_000_000
    assert first == sorted(first)
    assert len(set(first + second)) == 2000
    assert max(first) <= min(second) or first[0][:13] == second[0][:13]  # same millisecond
    for text in first + second:
        value = uuid.UUID(text)
        assert str(value) == text
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert before <= value.int >> 80 <= after
