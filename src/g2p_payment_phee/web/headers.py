"""Response headers every answer of the application carries, whatever produced it.

API answers (JSON under ``/api/``, the token answer included) are never cached by a browser or
a proxy (``Cache-Control: no-store``); no answer may be sniffed into another content type
(``X-Content-Type-Options: nosniff``). Pages set their own policy (``pages/rendering.py``);
the server banner is switched off where uvicorn is started (``cli/serve.py``).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SecurityHeaders:
    """Adds the headers above to every HTTP answer, without replacing ones a route set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = str(scope.get("path", "")).startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if api:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
