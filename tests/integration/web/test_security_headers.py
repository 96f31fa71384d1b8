"""Headers on every answer, and the API docs served offline from the package's own files."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.cli.serve import uvicorn_options
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.users.auth import create_api_token
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web import app as web_app


@pytest.fixture
def client(session_factory: sessionmaker[Session]) -> TestClient:
    return TestClient(web_app.create_app(session_factory))


def test_api_answers_are_not_cached_nor_sniffed(
    client: TestClient, session: Session, admin: User
) -> None:
    token = create_api_token(session, admin, "headers").token
    session.commit()
    answers = [
        client.get("/api/v1/programs", headers={"Authorization": f"Bearer {token}"}),
        client.get("/api/v1/programs"),  # 401
        client.post(
            "/api/v1/me/tokens",
            json={"name": "second"},
            headers={"Authorization": f"Bearer {token}"},
        ),  # the new-token answer carries a secret
    ]
    assert [a.status_code for a in answers] == [200, 401, 201]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_pages_keep_their_own_policy_and_are_not_sniffed(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in page.headers


def test_the_api_docs_load_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    html = page.text
    assert "http://" not in html
    assert "https://" not in html
    assert "<script>" not in html  # no inline script: the CSP would block it
    for asset in ("/api/docs/assets/swagger-ui-bundle.js", "/api/docs/assets/swagger-ui.css"):
        assert asset in html
        served = client.get(asset)
        assert served.status_code == 200
        assert len(served.content) > 10_000
    start = client.get("/static/api-docs.js")
    assert start.status_code == 200
    assert "SwaggerUIBundle" in start.text
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "g2p-payment-phee"


def test_the_server_sends_no_banner() -> None:
    assert uvicorn_options(get_settings(), "127.0.0.1", 8000)["server_header"] is False
