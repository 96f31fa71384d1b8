"""The operations app's gatekeeping: tenant filter, bearer tokens, OAuth client and user checks."""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import Request
from starlette.responses import Response

from . import bodies
from .config import ClientConfig, UserConfig
from .routing import Reply, state_of
from .tokens import TokenCheck

_OPEN_PREFIXES = ("/api/v1/errorcode",)


def ops_tenant(request: Request) -> str:
    """``Platform-TenantId`` (or ``tenantIdentifier``); missing or unknown → 500, empty body."""
    tenant = request.headers.get("platform-tenantid") or request.query_params.get(
        "tenantIdentifier"
    )
    if not state_of(request).known_tenant(tenant):
        raise Reply(bodies.empty(500))
    assert tenant is not None
    return tenant


def require_bearer(request: Request, tenant: str) -> None:
    """Spring OAuth2 resource-server check of ``Authorization: Bearer``."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise Reply(_auth_error(401, bodies.UNAUTHORIZED))
    token = header[7:].strip()
    verdict = state_of(request).tokens.check(token, tenant)
    if verdict is TokenCheck.INVALID:
        raise Reply(_auth_error(401, bodies.INVALID_TOKEN))
    if verdict is TokenCheck.EXPIRED:
        raise Reply(_auth_error(401, bodies.expired_token(token)))
    if verdict is TokenCheck.WRONG_TENANT:
        raise Reply(_auth_error(403, bodies.wrong_tenant(tenant)))


def _auth_error(status: int, body: dict[str, str]) -> Response:
    error, description = body["error"], body["error_description"]
    challenge = f'Bearer realm="oauth", error="{error}", error_description="{description}"'
    return bodies.json_response(body, status=status, headers={"WWW-Authenticate": challenge})


def ops_access(request: Request) -> str:
    """Dependency of every ``/api/v1`` route: the tenant, after the optional bearer check."""
    tenant = ops_tenant(request)
    state = state_of(request)
    if state.config.auth.enforce_bearer and not request.url.path.startswith(_OPEN_PREFIXES):
        require_bearer(request, tenant)
    return tenant


def basic_client(header: str | None, clients: list[ClientConfig]) -> ClientConfig | None:
    """The OAuth client authenticated by an ``Authorization: Basic`` header, if any."""
    if header is None or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    for client in clients:
        if client.client_id == client_id and hmac.compare_digest(
            client.secret.encode(), secret.encode()
        ):
            return client
    return None


def known_user(username: str | None, password: str | None, users: list[UserConfig]) -> bool:
    """True when the user exists and the password matches."""
    if username is None or password is None:
        return False
    return any(
        user.username == username and hmac.compare_digest(user.password.encode(), password.encode())
        for user in users
    )
