"""The password rules and the sign-in delays, without a database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.users.auth import FIRST_DELAY, FREE_FAILURES, MAX_DELAY, pair_delay
from g2p_payment_phee.users.passwords import MAX_PASSWORD_LENGTH, check_new_password


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short-pw", "at least 10"),
        ("aaaaaaaaaa", "too easy to guess"),
        ("password123", "too easy to guess"),
        ("qwertyuiop", "too easy to guess"),
        ("alice.smith", "must not contain the username"),
        ("my-ALICE.SMITH-is-safe-enough", "must not contain the username"),
        ("wren-" * 200 + "z", "at most 1000"),
    ],
)
def test_weak_long_and_username_passwords_are_refused(password: str, reason: str) -> None:
    with pytest.raises(ValidationFailed, match=reason):
        check_new_password(password, "Alice.Smith")


def test_a_password_of_uncommon_words_is_accepted_up_to_the_cap() -> None:
    check_new_password("correct-horse-battery", "alice.smith")
    check_new_password("gravel-otter-" + "x" * (MAX_PASSWORD_LENGTH - 13), "alice.smith")


def test_delays_start_after_the_free_failures_double_and_stop_at_the_cap() -> None:
    assert pair_delay(FREE_FAILURES - 1) == timedelta(0)
    assert pair_delay(FREE_FAILURES) == FIRST_DELAY
    assert pair_delay(FREE_FAILURES + 1) == FIRST_DELAY * 2
    assert pair_delay(FREE_FAILURES + 3) == FIRST_DELAY * 8
    assert pair_delay(10_000) == MAX_DELAY
