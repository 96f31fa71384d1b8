"""ids: row ids are valid version 7 UUIDs that only ever increase within the process."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from g2p_payment_phee import ids
from g2p_payment_phee.ids import new_id, new_id_texts


def _check(value: uuid.UUID, before_ms: int, after_ms: int) -> None:
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before_ms <= value.int >> 80 <= after_ms


def test_ids_are_version_7_with_the_time_and_increase_across_both_makers() -> None:
    before = time.time_ns() // 1_000_000
    made: list[uuid.UUID] = []
    for _ in range(200):
        made.append(new_id())
        made.extend(uuid.UUID(text) for text in new_id_texts(50))
    after = time.time_ns() // 1_000_000
    assert made == sorted(made)
    assert len(set(made)) == len(made) == 200 * 51
    for value in made:
        _check(value, before, after)


def test_texts_are_canonical_and_ascending() -> None:
    texts = new_id_texts(5000)
    assert texts == sorted(texts)
    assert all(str(uuid.UUID(text)) == text for text in texts)
    assert new_id_texts(0) == []


def test_a_clock_that_goes_back_does_not_make_smaller_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_id()
    earlier = (first.int >> 80) - 60_000  # a minute back
    monkeypatch.setattr(time, "time_ns", lambda: earlier * 1_000_000)
    later = [new_id() for _ in range(100)]
    assert all(value > first for value in later)
    assert later == sorted(later)
    assert {value.int >> 80 for value in later} == {first.int >> 80}  # the last millisecond


def test_a_used_up_millisecond_moves_on_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time_ns() // 1_000_000 + 1000
    monkeypatch.setattr(time, "time_ns", lambda: now * 1_000_000)
    new_id()
    monkeypatch.setattr(ids, "_last_random", (1 << 74) - 2)  # one step from the end
    values = [uuid.UUID(text) for text in new_id_texts(10)]
    assert values == sorted(values)
    assert {value.int >> 80 for value in values} == {now + 1}
    for value in values:
        _check(value, now + 1, now + 1)


def test_threads_get_distinct_ids() -> None:
    results: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(out: list[uuid.UUID]) -> None:
        for _ in range(2000):
            out.append(new_id())

    threads = [threading.Thread(target=make, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [value for out in results for value in out]
    assert len(set(everything)) == 8000
    for out in results:
        assert out == sorted(out)
