"""Errors on pages: HTML for people, while the API keeps its JSON answers.

The handlers installed here wrap the API's: a request under ``/api/`` gets exactly what the API
handler answers; a page gets an error page (403 with the reason, 404, 409 ...) or, when the
session is missing or ended, a redirect to the sign-in page that comes back to the same page.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from g2p_payment_phee.errors import G2PError, NotAuthenticated, PermissionDenied, http_status_for
from g2p_payment_phee.i18n import _, lazy_gettext
from g2p_payment_phee.web.deps import SESSION_COOKIE
from g2p_payment_phee.web.pages.rendering import render, safe_next

TITLES = {
    400: lazy_gettext("That request cannot be handled"),
    403: lazy_gettext("Not allowed"),
    404: lazy_gettext("Not found"),
    409: lazy_gettext("Refused"),
    422: lazy_gettext("Please check what you entered"),
    429: lazy_gettext("Too many attempts"),
    500: lazy_gettext("Something went wrong on our side"),
}


def is_page(request: Request) -> bool:
    """Whether a request is for a page (everything outside the JSON API)."""
    return not request.url.path.startswith("/api/")


def sign_in_redirect(request: Request) -> Response:
    """To the sign-in page, coming back to this page afterwards (or, after a POST, to the page
    the form was on)."""
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        referer = request.headers.get("referer", "")
        host = f"{request.url.scheme}://{request.url.netloc}"
        target = referer.removeprefix(host) if referer.startswith(host + "/") else "/"
    response = RedirectResponse("/login?" + urlencode({"next": safe_next(target)}), 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def error_page(request: Request, status: int, message: str) -> Response:
    """The error page: what went wrong, in words, with the status the browser should see."""
    title = str(TITLES.get(status) or _("Something went wrong"))
    return render(request, "error.html", {"title": title, "message": message}, status_code=status)


def install_page_error_handlers(app: FastAPI) -> None:
    """Put HTML handling for pages in front of the API's JSON handlers."""
    api_error = _existing(app, G2PError)
    api_invalid = _existing(app, RequestValidationError)
    api_http = _existing(app, StarletteHTTPException)
    api_unexpected = _existing(app, Exception)

    async def on_g2p_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, G2PError)
        if not is_page(request):
            return await _call(api_error, request, error)
        if isinstance(error, NotAuthenticated):
            return sign_in_redirect(request)
        status = 403 if isinstance(error, PermissionDenied) else http_status_for(error)
        return error_page(request, status, error.message)

    async def on_invalid_request(request: Request, error: Exception) -> Response:
        if not is_page(request):
            return await _call(api_invalid, request, error)
        return error_page(request, 400, _("the address or the form is not one this site made"))

    async def on_http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if not is_page(request):
            if api_http is None:
                return await http_exception_handler(request, error)
            return await _call(api_http, request, error)
        message = _("there is no such page") if error.status_code == 404 else str(error.detail)
        return error_page(request, error.status_code, message)

    async def on_unexpected(request: Request, error: Exception) -> Response:
        if not is_page(request):
            return await _call(api_unexpected, request, error)
        return error_page(
            request, 500, _("something unexpected went wrong; it has been logged for the operators")
        )

    app.add_exception_handler(G2PError, on_g2p_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def _existing(app: FastAPI, error: type[Exception]) -> Callable[..., Any] | None:
    handler: Callable[..., Any] | None = app.exception_handlers.get(error)
    return handler


async def _call(handler: Callable[..., Any] | None, request: Request, error: Exception) -> Response:
    if handler is None:
        raise error
    result = handler(request, error)
    response = await result if inspect.isawaitable(result) else result
    assert isinstance(response, Response)
    return response
