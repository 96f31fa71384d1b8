"""``/oauth/token`` and bearer enforcement on ``/api/v1`` (off by default, like PHEE)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from g2p_payment_phee.emulator import EmulatorServer

from .support import batch_id_of, csv_file, rows, upload

BASIC_CLIENT = "Basic Y2xpZW50Og=="  # client: (empty secret)
TOKEN_HEADERS = {"Authorization": BASIC_CLIENT, "Platform-TenantId": "gorilla"}
PASSWORD_GRANT = {"username": "mifos", "password": "password", "grant_type": "password"}


def _token(client, tenant: str = "gorilla") -> dict[str, Any]:
    response = client.post(
        "/oauth/token",
        params=PASSWORD_GRANT,
        headers={"Authorization": BASIC_CLIENT, "Platform-TenantId": tenant},
        json={},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def test_password_grant_returns_a_spring_oauth2_body(client):
    body = _token(client)
    assert set(body) == {
        "access_token",
        "token_type",
        "refresh_token",
        "expires_in",
        "scope",
        "jti",
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 599
    assert body["scope"] == "identity"
    claims = _claims(body["access_token"])
    assert claims["aud"] == ["identity-provider", "gorilla"]
    assert claims["user_name"] == "mifos"
    assert claims["client_id"] == "client"


def test_form_encoded_parameters_work_too(client):
    response = client.post("/oauth/token", data=PASSWORD_GRANT, headers=TOKEN_HEADERS)
    assert response.status_code == 200
    assert response.json()["access_token"]


def test_bad_password_is_401_with_string_status(client):
    response = client.post(
        "/oauth/token", params={**PASSWORD_GRANT, "password": "nope"}, headers=TOKEN_HEADERS
    )
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "401"
    assert (body["error"], body["message"], body["path"]) == (
        "Unauthorized",
        "Invalid credentials",
        "/oauth/token",
    )
    assert isinstance(body["timestamp"], int)


@pytest.mark.parametrize("authorization", [None, "Basic bm9ib2R5Og==", "Bearer x", "Basic !!"])
def test_unknown_client_is_401(client, authorization):
    headers = {"Platform-TenantId": "gorilla"}
    if authorization:
        headers["Authorization"] = authorization
    response = client.post("/oauth/token", params=PASSWORD_GRANT, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


def test_oauth_errors_are_400_error_bodies(client):
    missing = client.post("/oauth/token", headers=TOKEN_HEADERS)
    assert (missing.status_code, missing.json()) == (400, {"error": "Missing grant type"})
    other = client.post("/oauth/token", params={"grant_type": "implicit"}, headers=TOKEN_HEADERS)
    assert other.status_code == 400
    assert "implicit" in other.json()["error"]


def test_token_endpoint_needs_a_known_tenant(client):
    response = client.post(
        "/oauth/token", params=PASSWORD_GRANT, headers={"Authorization": BASIC_CLIENT}
    )
    assert (response.status_code, response.content) == (500, b"")


def test_channel_client_credentials(client):
    secret = base64.b64encode(b"channel-gorilla:p2345").decode()
    response = client.post(
        "/oauth/token",
        params={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {secret}", "Platform-TenantId": "gorilla"},
    )
    assert response.status_code == 200
    assert "refresh_token" not in response.json()


def test_refresh_token_grant(client):
    refresh = _token(client)["refresh_token"]
    response = client.post(
        "/oauth/token",
        params={"grant_type": "refresh_token", "refresh_token": refresh},
        headers=TOKEN_HEADERS,
    )
    assert response.status_code == 200
    bad = client.post(
        "/oauth/token",
        params={"grant_type": "refresh_token", "refresh_token": "x.y.z"},
        headers=TOKEN_HEADERS,
    )
    assert bad.status_code == 400


def test_users_and_clients_are_configurable(client, hub: EmulatorServer):
    hub.update_config(
        {
            "auth": {
                "users": [{"username": "ops", "password": "s3cret"}],
                "clients": [{"client_id": "app", "secret": "k"}],
            }
        }
    )
    basic = base64.b64encode(b"app:k").decode()
    response = client.post(
        "/oauth/token",
        params={"username": "ops", "password": "s3cret", "grant_type": "password"},
        headers={"Authorization": f"Basic {basic}", "Platform-TenantId": "gorilla"},
    )
    assert response.status_code == 200
    assert (
        client.post("/oauth/token", params=PASSWORD_GRANT, headers=TOKEN_HEADERS).status_code == 401
    )


def test_bearer_is_not_required_by_default(client):
    batch_id = batch_id_of(upload(client, csv_file(rows(1))))
    assert (
        client.get(
            f"/api/v1/batch/{batch_id}", headers={"Platform-TenantId": "gorilla"}
        ).status_code
        == 200
    )


class TestBearerEnforced:
    @pytest.fixture(autouse=True)
    def _enforce(self, hub: EmulatorServer):
        hub.update_config({"auth": {"enforce_bearer": True, "token_ttl_seconds": 60}})

    def _get(self, client, batch_id: str, token: str | None, tenant: str = "gorilla"):
        headers = {"Platform-TenantId": tenant}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return client.get(f"/api/v1/batch/{batch_id}", headers=headers)

    def test_missing_token_is_401(self, client):
        batch_id = batch_id_of(upload(client, csv_file(rows(1))))
        response = self._get(client, batch_id, None)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")

    def test_valid_token_passes_and_uploads_need_none(self, client):
        batch_id = batch_id_of(upload(client, csv_file(rows(1))))
        assert self._get(client, batch_id, _token(client)["access_token"]).status_code == 200

    def test_garbage_token_is_invalid(self, client):
        response = self._get(client, "x", "not-a-jwt")
        assert (response.status_code, response.json()["error"]) == (401, "invalid_token")

    def test_token_of_another_tenant_is_refused(self, client):
        response = self._get(client, "x", _token(client, "rhino")["access_token"])
        assert response.status_code == 403
        assert response.json()["error"] == "access_denied"

    def test_tokens_expire_with_the_clock(self, client, hub: EmulatorServer):
        token = _token(client)
        assert token["expires_in"] == 59
        batch_id = batch_id_of(upload(client, csv_file(rows(1))))
        hub.advance(61)
        response = self._get(client, batch_id, token["access_token"])
        assert response.status_code == 401
        assert response.json()["error_description"].startswith("Access token expired")
        assert self._get(client, batch_id, _token(client)["access_token"]).status_code == 200

    def test_forced_token_expiry(self, client, hub: EmulatorServer):
        batch_id = batch_id_of(upload(client, csv_file(rows(1))))
        token = _token(client)["access_token"]
        hub.expire_tokens()
        assert self._get(client, batch_id, token).status_code == 401
        fresh = client.post("/_emulator/tokens/expire")
        assert fresh.status_code == 200

    def test_upload_can_be_guarded_like_behind_a_gateway(self, client, hub: EmulatorServer):
        hub.update_config({"auth": {"enforce_bearer_on_upload": True}})
        assert upload(client, csv_file(rows(1))).status_code == 401
        token = _token(client)["access_token"]
        response = upload(client, csv_file(rows(1)), Authorization=f"Bearer {token}")
        assert response.status_code == 202
