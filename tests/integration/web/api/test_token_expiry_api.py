"""A new API token's expires_at must carry a timezone: a naive time is a 422, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.web.api.conftest import Api

TOKENS = "/api/v1/me/tokens"


@pytest.mark.parametrize("naive", ["2099-01-01T00:00:00", "2099-01-01 12:30"])
def test_a_naive_expiry_is_refused_with_422(api: Api, naive: str) -> None:
    answer = api.post(TOKENS, json={"name": "naive", "expires_at": naive})
    assert answer.status_code == 422, answer.text
    assert [f["field"] for f in answer.json()["error"]["fields"]] == ["expires_at"]
    names = [t["name"] for t in api.ok("GET", TOKENS)["items"]]
    assert "naive" not in names


def test_an_expiry_with_a_timezone_is_accepted(api: Api) -> None:
    created = api.ok(
        "POST", TOKENS, json={"name": "aware", "expires_at": "2099-01-01T03:00:00+03:00"}
    )
    expected = datetime(2099, 1, 1, tzinfo=UTC)
    assert datetime.fromisoformat(created["expires_at"]) == expected
    listed = {t["name"]: t for t in api.ok("GET", TOKENS)["items"]}
    assert datetime.fromisoformat(listed["aware"]["expires_at"]) == expected
