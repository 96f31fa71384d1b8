"""The callback URL is built from the application's address, whatever path the operator gave."""

from __future__ import annotations

import uuid

import pytest

from g2p_payment_phee.phee.callbacks import callback_token, callback_url
from g2p_payment_phee.phee.settings import PheeSettings

BATCH = uuid.UUID("0199a0b0-0000-7000-8000-000000000001")


@pytest.mark.parametrize(
    ("base", "served_at"),
    [
        ("https://g2p.example.org", "https://g2p.example.org"),
        ("https://g2p.example.org/", "https://g2p.example.org"),
        ("https://g2p.example.org/api/v1", "https://g2p.example.org"),
        ("https://g2p.example.org/api/v1/", "https://g2p.example.org"),
        ("http://10.0.0.5:8000", "http://10.0.0.5:8000"),
        ("https://example.org/g2p", "https://example.org/g2p"),  # behind a path prefix
        ("https://example.org/g2p/api/v1/", "https://example.org/g2p"),
    ],
)
def test_every_form_of_the_address_gives_the_served_route(base: str, served_at: str) -> None:
    expected = f"{served_at}/api/v1/phee/callback/{callback_token(BATCH)}"
    assert callback_url(base, BATCH) == expected
    stored = PheeSettings(tenant_id="t", payee_id_type="phone", callback_base_url=base)
    assert stored.callback_base_url is not None
    assert callback_url(stored.callback_base_url, BATCH) == expected


@pytest.mark.parametrize(
    "bad", ["g2p.example.org", "ftp://g2p.example.org", "https://x/api/v1?x=1", "https://x/#a"]
)
def test_a_base_that_is_no_http_address_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="callback_base_url"):
        PheeSettings(tenant_id="t", payee_id_type="phone", callback_base_url=bad)
