"""PHEE's answers, byte for byte where phee-api.md records them (typos and odd keys included).

Bodies are built as compact JSON like Jackson writes it, so that response signatures cover the
same bytes a client receives.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

JSON = "application/json"


def dumps(value: Any) -> bytes:
    """Compact JSON (Jackson's default layout)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with compact encoding."""
    return Response(dumps(value), status_code=status, media_type=JSON, headers=headers)


def empty(status: int) -> Response:
    """A response with no body at all (PHEE's 500 for a missing tenant, 404s on ops)."""
    return Response(b"", status_code=status)


# --- bulk processor -------------------------------------------------------------------------

FILE_NOT_UPLOADED = {
    "errorInformation": "File not uploaded",
    "errorDescription": "There was no fie uploaded with the request. "
    "Please upload a file and try again.",
    "errorCode": 400,
}
BROKEN_FILE = {
    "Error Information: ": "Broken file",
    "Error Description : ": "The file uploaded is broken as it has a different extension. "
    "Please upload a csv file and try again.",
}
FILE_TOO_BIG = {
    "Error Information: ": "File too big",
    "Error Description : ": "The file uploaded is too big. Please upload a file and try again.",
}
INVALID_FILE_STRUCTURE = {
    "Error Information: ": "Invalid file structure",
    "Error Description : ": "The file uploaded contains wrong structure. "
    "Please upload correct file columns and try again.",
}
PROCESS_DEFINITION_NOT_FOUND = {
    "responseCode": "01",
    "responseDescription": "Process definition not found",
}


def missing_header(name: str) -> dict[str, str]:
    """Body of the bulk processor's global handler for a missing required header (500)."""
    return {
        "responseCode": "01",
        "responseDescription": f"Required request header '{name}' for method parameter type "
        "String is not present",
    }


def server_error(description: str) -> dict[str, str]:
    """Body of the bulk processor's global handler for any other exception (500)."""
    return {"responseCode": "01", "responseDescription": description}


def invalid_public_key(certificate: str) -> dict[str, str]:
    """400 when the signature cannot be decrypted (missing, not base64, other key)."""
    return {
        "errorCategory": "Validation",
        "errorCode": "InvalidPublicKeyConfigured",
        "errorDescription": "The public key configured is invalid",
        "developerMessage": f"Certificate{certificate}",
        "defaultUserMessage": "",
    }


def invalid_signature(signature: str) -> dict[str, Any]:
    """400 when the right key decrypts a digest of different data."""
    return {
        "errorCategory": "Validation",
        "errorCode": "InvalidJsonWebSignature",
        "errorDescription": "The JWS passed is not valid",
        "errorParameters": [{"key": "X-SIGNATURE", "value": signature}],
    }


def polling_accepted(polling_path: str, batch_id: str, seconds: str) -> dict[str, str]:
    """The current 202 body."""
    return {"PollingPath": f"{polling_path}{batch_id}", "SuggestedCallbackSeconds": seconds}


def legacy_accepted(batch_id: str, correlation_id: str) -> dict[str, str]:
    """The 2022-era 200 body."""
    return {"batch_id": batch_id, "request_id": correlation_id, "status": "queued"}


# --- operations app -------------------------------------------------------------------------


def spring_error(status: int, error: str, message: str, path: str) -> dict[str, Any]:
    """Spring Boot's default error body."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    return {"timestamp": stamp, "status": status, "error": error, "message": message, "path": path}


def bad_credentials(path: str) -> dict[str, Any]:
    """401 of ``/oauth/token`` for a wrong user or password (``status`` is a string here)."""
    return {
        "timestamp": int(time.time() * 1000),
        "status": "401",
        "error": "Unauthorized",
        "message": "Invalid credentials",
        "path": path,
    }


def oauth_error(message: str) -> dict[str, str]:
    """400 of ``/oauth/token`` for other OAuth errors."""
    return {"error": message}


def batch_not_found(batch_id: str) -> Response:
    """404 of the ``/batch`` summaries, as plain text."""
    text = f"Batch corresponding to batchId: {batch_id} does not exist."
    return Response(text, status_code=404, media_type="text/plain")


UNAUTHORIZED = {
    "error": "unauthorized",
    "error_description": "Full authentication is required to access this resource",
}
INVALID_TOKEN = {
    "error": "invalid_token",
    "error_description": "Cannot convert access token to JSON",
}


def expired_token(token: str) -> dict[str, str]:
    """401 for an expired (or revoked) bearer token."""
    return {"error": "invalid_token", "error_description": f"Access token expired: {token}"}


def wrong_tenant(tenant: str) -> dict[str, str]:
    """403 when the token's audience does not contain the request's tenant."""
    return {
        "error": "access_denied",
        "error_description": f"Invalid token does not contain resource id ({tenant})",
    }


def java_date(epoch: float) -> str:
    """``java.util.Date.toString()`` in UTC, e.g. ``Tue Aug 13 10:15:30 UTC 2024``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


def millis(epoch: float | None) -> int | None:
    """Epoch milliseconds, as Jackson writes dates by default."""
    return None if epoch is None else int(epoch * 1000)
