"""Unknown routes and unexpected errors: JSON with a stable code for the API, HTML for pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.web.app import create_app


@pytest.fixture
def app(session_factory: sessionmaker[Session]) -> FastAPI:
    app = create_app(session_factory)

    def boom() -> None:
        raise RuntimeError("secret internals: db password is hunter2")

    app.add_api_route("/api/v1/_boom", boom)
    app.add_api_route("/_boom", boom)
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_unknown_api_route_is_a_json_404(client: TestClient) -> None:
    answer = client.get("/api/v1/no/such/route")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_unknown_page_is_an_html_404(client: TestClient) -> None:
    answer = client.get("/no/such/page")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "there is no such page" in answer.text


def test_unexpected_api_error_is_a_json_500_without_internals(client: TestClient) -> None:
    answer = client.get("/api/v1/_boom")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "hunter2" not in answer.text


def test_unexpected_page_error_is_an_html_500_without_internals(client: TestClient) -> None:
    answer = client.get("/_boom")
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("text/html")
    assert "it has been logged" in answer.text
    assert "hunter2" not in answer.text
