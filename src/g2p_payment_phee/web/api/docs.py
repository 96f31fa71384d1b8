"""The API's interactive documentation (``/api/docs``), served from the application's own files.

Swagger UI's script and stylesheet come from the ``fastapi-offline`` package (installed with the
product), so the page works offline and loads nothing from a CDN. The page's own start-up
script is a file too (``static/api-docs.js``), so its Content-Security-Policy allows scripts from
this origin only; Swagger UI sets inline styles, which the policy allows for styles alone.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
)
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
<link rel="icon" href="/api/docs/assets/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>
"""


def install_api_docs(app: FastAPI) -> None:
    """``GET /api/docs`` and its assets; FastAPI's own (CDN-based) page stays off."""
    app.mount("/api/docs/assets", StaticFiles(directory=ASSETS), name="api-docs-assets")
    page = _PAGE.format(title=app.title, openapi_url=app.openapi_url)

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": CSP})
