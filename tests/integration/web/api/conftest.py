"""The API over a real database: a TestClient and a personal API token per role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.jobs.runner import InProcessRunner
from g2p_payment_phee.users.auth import create_api_token, revoke_api_token
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.app import create_app
from tests.integration.phee.conftest import _emulator, hub  # noqa: F401 - the emulator fixtures

ROLES = ("admin", "program_manager", "approver", "viewer")


class Api:
    """A TestClient that sends a bearer token (or none) on every call."""

    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def call(self, method: str, path: str, who: str | None = "admin", **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        answer: httpx.Response = self.client.request(method, path, headers=headers, **kw)
        return answer

    def get(self, path: str, who: str | None = "admin", **kw: Any) -> httpx.Response:
        return self.call("GET", path, who, **kw)

    def post(self, path: str, who: str | None = "admin", **kw: Any) -> httpx.Response:
        return self.call("POST", path, who, **kw)

    def ok(self, method: str, path: str, who: str | None = "admin", **kw: Any) -> Any:
        """The JSON of a successful call (fails the test with the answer otherwise)."""
        answer = self.call(method, path, who, **kw)
        assert answer.status_code < 300, (answer.status_code, answer.text)
        return answer.json()

    def wait(self, job: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        """Block until the in-process runner finished the job; the job as the API shows it."""
        runner = self.client.app.state.job_runner  # type: ignore[attr-defined]
        assert isinstance(runner, InProcessRunner)
        import uuid

        assert runner.wait(uuid.UUID(job["id"]), timeout=timeout), "job did not finish"
        final: dict[str, Any] = self.ok("GET", f"/api/v1/jobs/{job['id']}")
        assert final["final"], final
        return final


@pytest.fixture
def tokens(
    session: Session, admin: User, manager: User, approver: User, viewer: User
) -> dict[str, str]:
    """A live token per role, and a revoked one (the admin's)."""
    users = {"admin": admin, "program_manager": manager, "approver": approver, "viewer": viewer}
    found = {role: create_api_token(session, user, "tests").token for role, user in users.items()}
    revoked = create_api_token(session, admin, "revoked")
    revoke_api_token(session, admin, revoked.api_token.id)
    found["revoked"] = revoked.token
    found["unknown"] = "g2p_not-a-token-anyone-issued"
    session.commit()
    return found


@pytest.fixture
def api(
    session: Session, session_factory: sessionmaker[Session], tokens: dict[str, str]
) -> Iterator[Api]:
    session.commit()
    with TestClient(create_app(session_factory)) as client:
        yield Api(client, tokens)
