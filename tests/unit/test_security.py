"""Secrets at rest and tokens."""

from __future__ import annotations

import pytest

from g2p_payment_phee.errors import ConfigurationError
from g2p_payment_phee.security import (
    decrypt_secret,
    encrypt_secret,
    hash_token,
    new_token,
    token_matches,
)

KEY = "k" * 40


def test_secrets_round_trip_and_never_appear_in_the_ciphertext() -> None:
    stored = encrypt_secret(KEY, "hunter2-password")
    assert "hunter2" not in stored
    assert decrypt_secret(KEY, stored) == "hunter2-password"


def test_a_changed_secret_key_is_a_clear_error() -> None:
    stored = encrypt_secret(KEY, "x")
    with pytest.raises(ConfigurationError, match="secret key changed"):
        decrypt_secret("z" * 40, stored)


def test_tokens_are_stored_hashed_and_compared() -> None:
    token = new_token()
    stored = hash_token(token)
    assert token not in stored
    assert token_matches(token, stored)
    assert not token_matches(token + "x", stored)
