"""Request bodies are checked while read: a bearer token before any byte of an API body, 413
past the cap (64 KB for PHEE's callback, 1 MB elsewhere), 400 for JSON nested too deeply."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Message

from g2p_payment_phee.users.auth import create_api_token
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web import app as web_app
from g2p_payment_phee.web.limits import (
    BODY_LIMIT,
    CALLBACK_LIMIT,
    CALLBACK_PREFIX,
    MAX_JSON_DEPTH,
)

PROGRAMS = "/api/v1/programs"


@pytest.fixture
def client(session_factory: sessionmaker[Session]) -> TestClient:
    return TestClient(web_app.create_app(session_factory))


@pytest.fixture
def bearer(session: Session, admin: User) -> dict[str, str]:
    token = create_api_token(session, admin, "limits").token
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_an_api_body_is_not_read_without_a_valid_token(
    session_factory: sessionmaker[Session],
) -> None:
    """The 401 comes before the first body message is asked for (the issue's 300 MB case)."""
    app = web_app.create_app(session_factory)
    asked: list[str] = []
    sent: list[Message] = []

    async def receive() -> Message:
        asked.append("body")
        return {"type": "http.request", "body": b"{}" * 1000, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    for headers in ([], [(b"authorization", b"Bearer g2p_not-a-token")]):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PROGRAMS,
            "raw_path": PROGRAMS.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json"), *headers],
            "client": ("127.0.0.1", 1),
            "server": ("testserver", 80),
        }
        asyncio.run(app(scope, receive, send))
        assert sent[-2]["status"] == 401
        assert json.loads(sent[-1]["body"])["error"]["code"] == "not_authenticated"
    assert asked == []


def test_deep_json_without_a_token_is_401_not_400(client: TestClient) -> None:
    answer = client.post(PROGRAMS, content=nested(100_000))
    assert answer.status_code == 401


def test_a_body_over_the_cap_is_413_with_a_json_error(
    client: TestClient, bearer: dict[str, str]
) -> None:
    big = b'{"name": "' + b"x" * BODY_LIMIT + b'"}'
    answer = client.post(PROGRAMS, content=big, headers=bearer)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"

    def streamed() -> Any:  # no Content-Length: counted while it streams in
        for _ in range(BODY_LIMIT // 65536 + 2):
            yield b" " * 65536

    answer = client.post(PROGRAMS, content=streamed(), headers=bearer)
    assert answer.status_code == 413

    just_under = b'{"name": ""}' + b" " * (BODY_LIMIT - 20)  # read, then judged by the route
    assert client.post(PROGRAMS, content=just_under, headers=bearer).status_code == 422


def test_a_callback_over_64_kb_is_413_and_under_it_200(client: TestClient) -> None:
    path = CALLBACK_PREFIX + "some-token"
    assert client.post(path, content=b" " * (CALLBACK_LIMIT + 1)).status_code == 413
    answer = client.post(path, content=b" " * CALLBACK_LIMIT)
    assert (answer.status_code, answer.json()) == (200, {"status": "received"})


def test_json_nested_too_deeply_is_a_clear_400_without_a_traceback(
    client: TestClient, bearer: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    for depth in (MAX_JSON_DEPTH + 1, 100_000):  # the second is past Python's own parser
        answer = client.post(PROGRAMS, content=nested(depth), headers=bearer)
        assert answer.status_code == 400
        assert "nested deeper than 64 levels" in answer.json()["error"]["message"]
    assert not [r for r in caplog.records if r.exc_info]
    at_the_limit = client.post(PROGRAMS, content=nested(MAX_JSON_DEPTH), headers=bearer)
    assert at_the_limit.status_code == 422  # parsed, then refused as not a program
