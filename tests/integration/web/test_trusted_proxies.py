"""X-Forwarded-For/-Proto are believed only from G2P_TRUSTED_PROXIES (issue 18, item 5).

The application is wrapped exactly as ``g2p-phee serve`` has uvicorn wrap it, then called
from chosen client addresses.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from g2p_payment_phee.cli.serve import uvicorn_options
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.errors import ConfigurationError

FORGED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


async def _who(request: Request) -> JSONResponse:
    client = request.client
    return JSONResponse({"client": client.host if client else None, "scheme": request.url.scheme})


def _seen_by_app(client_host: str) -> dict[str, str]:
    """What the application sees of a request with forged proxy headers from ``client_host``."""
    options = uvicorn_options(get_settings(), "127.0.0.1", 8000)
    config = uvicorn.Config(Starlette(routes=[Route("/", _who)]), **options)
    config.load()
    transport = httpx.ASGITransport(app=config.loaded_app, client=(client_host, 50000))

    async def call() -> dict[str, str]:
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            answer = await client.get("/", headers=FORGED)
            return dict(answer.json())

    return asyncio.run(call())


def test_by_default_no_one_is_believed_not_even_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # uvicorn's own switch must not matter
    assert _seen_by_app("127.0.0.1") == {"client": "127.0.0.1", "scheme": "http"}


def test_a_trusted_proxy_gives_the_real_client_and_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("G2P_TRUSTED_PROXIES", " 10.0.0.0/24 , 192.0.2.7")
    assert _seen_by_app("10.0.0.42") == {"client": "203.0.113.9", "scheme": "https"}
    assert _seen_by_app("192.0.2.7") == {"client": "203.0.113.9", "scheme": "https"}


def test_anyone_else_keeps_their_own_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("G2P_TRUSTED_PROXIES", "10.0.0.0/24")
    assert _seen_by_app("127.0.0.1") == {"client": "127.0.0.1", "scheme": "http"}
    assert _seen_by_app("10.0.1.1") == {"client": "10.0.1.1", "scheme": "http"}


@pytest.mark.parametrize("value", ["*", "proxy.example.org", "10.0.0.0/33", "10.0.0.1;10.0.0.2"])
def test_anything_but_addresses_and_networks_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("G2P_TRUSTED_PROXIES", value)
    with pytest.raises(ConfigurationError, match=r"G2P_TRUSTED_PROXIES: .* is not an IP address"):
        get_settings()


def test_entries_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("G2P_TRUSTED_PROXIES", "10.0.0.5, ::1,,10.1.2.3/8")
    assert get_settings().trusted_proxies == "10.0.0.5/32,::1/128,10.0.0.0/8"
