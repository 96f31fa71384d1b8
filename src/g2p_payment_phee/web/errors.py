"""The error tree translated to HTTP: JSON with a stable code; a product error gets the status
that the table in ``g2p_payment_phee.errors`` gives its class, and no other."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from g2p_payment_phee.db import is_database_lost
from g2p_payment_phee.errors import (
    DatabaseUnavailable,
    G2PError,
    NotAuthenticated,
    RateLimited,
    http_status_for,
)
from g2p_payment_phee.i18n import _

# Errors the framework raises itself (unknown route, wrong method), with the same JSON shape.
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def error_body(
    code: str, message: str, fields: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The JSON error shape every API answer uses."""
    return {"error": {"code": code, "message": message, "fields": fields or []}}


def json_error(error: G2PError) -> JSONResponse:
    """An error as the API's JSON answer."""
    fields = [
        {"field": item.field, "reason": item.reason, "row": item.row}
        for item in getattr(error, "errors", [])
    ]
    headers = {}
    if isinstance(error, NotAuthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse(
        error_body(error.code, error.message, fields),
        status_code=http_status_for(error),
        headers=headers,
    )


def install_api_error_handlers(app: FastAPI) -> None:
    """JSON errors for the API (pages install their own HTML handling on top)."""

    async def on_g2p_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, G2PError)
        return json_error(error)

    async def on_invalid_request(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        fields = [
            {"field": ".".join(str(p) for p in item["loc"][1:]), "reason": item["msg"], "row": None}
            for item in error.errors()
        ]
        body = error_body("validation_failed", _("the request is not valid"), fields)
        return JSONResponse(body, status_code=422)

    async def on_http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        code = HTTP_CODES.get(error.status_code, "http_error")
        message = _("no such resource") if error.status_code == 404 else str(error.detail)
        headers = dict(error.headers or {})
        return JSONResponse(
            error_body(code, message), status_code=error.status_code, headers=headers
        )

    async def on_unexpected(request: Request, error: Exception) -> Response:
        # Starlette's ServerErrorMiddleware sends this answer, then re-raises the error so the
        # server logs it with its traceback; the answer itself says nothing about the cause,
        # except that a lost database is worth trying again later.
        if is_database_lost(error):
            return json_error(
                DatabaseUnavailable(_("the database is unavailable; try again later"))
            )
        body = error_body("internal_error", _("an unexpected error happened; it has been logged"))
        return JSONResponse(body, status_code=500)

    app.add_exception_handler(G2PError, on_g2p_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
