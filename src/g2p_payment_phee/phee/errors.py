"""Errors of the PHEE client: what the hub answered (or didn't), with secrets redacted.

::

    G2PError
    └── PheeError                 endpoint, status, body (redacted, truncated), maybe_delivered
        ├── PheeAuthError         token refused, or 401/403 even with a fresh token
        ├── PheeRejected          4xx: the hub refused the request; fix the cause and resend
        │   └── PheeNotFound      404: the hub does not know the batch
        ├── PheeUnavailable       timeout, connection error, 5xx
        └── PheeProtocolError     a 2xx (or 1xx/3xx) answer the client cannot use

``maybe_delivered`` answers the one question a sender must ask after a failed upload: *could
the hub have stored this batch?*  It is false only when the hub provably did not take it (a
4xx/401 answer, a connection never made, a token fetch that failed before the upload was sent)
and true otherwise (read timeouts, connections dropped after sending, 5xx, unreadable 2xx).
A batch whose upload failed with ``maybe_delivered`` must be looked up (``find_batch``) before
it is ever sent again.

Nothing here ever shows the password, the ``Authorization`` secret, a bearer token or the
signing key: every message and body goes through a :class:`Redactor` first, and the token
URL's query string (username and password) is never printed.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import httpx

from g2p_payment_phee.errors import G2PError
from g2p_payment_phee.i18n import _

__all__ = [
    "BODY_LIMIT",
    "PheeAuthError",
    "PheeError",
    "PheeNotFound",
    "PheeProtocolError",
    "PheeRejected",
    "PheeUnavailable",
    "Redactor",
    "describe_request",
    "error_from_response",
    "error_from_transport",
    "response_body",
]

BODY_LIMIT = 2000
REDACTED = "[REDACTED]"
_SECRET_PARAMS = frozenset({"username", "password", "client_secret", "refresh_token"})


class PheeError(G2PError):
    """The hub could not be used for a call; says where, what it answered and whether the
    request may have reached it."""

    code = "phee_error"
    http_status = 502
    exit_code = 15

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status: int | None = None,
        body: str = "",
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status
        self.body = body
        self.maybe_delivered = maybe_delivered

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(endpoint={self.endpoint!r}, status={self.status!r}, "
            f"maybe_delivered={self.maybe_delivered!r}, message={self.message!r})"
        )


class PheeAuthError(PheeError):
    """Authentication failed: the token was refused, or a call was refused with 401/403
    even after one fresh token.  A configuration problem, not a batch problem."""

    code = "phee_auth_failed"
    http_status = 502
    exit_code = 17


class PheeRejected(PheeError):
    """The hub answered 4xx: it refused the request and did not take it.  Safe to fix the
    cause and send again (with the same correlation id)."""

    code = "phee_rejected"
    http_status = 502
    exit_code = 15


class PheeNotFound(PheeRejected):
    """404: the hub does not know the batch (or the path)."""

    code = "phee_not_found"
    http_status = 502
    exit_code = 15


class PheeUnavailable(PheeError):
    """No usable answer: timeout, connection error or 5xx.  For an upload the outcome is
    unknown when ``maybe_delivered`` is true."""

    code = "phee_unavailable"
    http_status = 503
    exit_code = 16


class PheeProtocolError(PheeError):
    """The hub answered, but not in a shape the client can use (non-JSON, missing fields)."""

    code = "phee_protocol_error"
    http_status = 502
    exit_code = 15


class Redactor:
    """Replaces known secrets, in every form a hub may echo them, in any text.

    A secret may come back raw, URL-encoded (``%2F`` or ``%2f``, ``+`` for spaces),
    JSON-escaped (``\\"``, ``\\\\``, ``\\u00e9`` or the character itself, ``\\/``),
    HTML-escaped, or one of these inside another (a JSON error quoting a URL); and the
    username with the password as HTTP Basic credentials (:meth:`add_basic`).
    Thread-safe; tokens are added as they are fetched.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.add(secret)

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._secrets)} secrets>)"

    @property
    def longest(self) -> int:
        """The length of the longest form a secret may take here (0 when there is none)."""
        secrets = self._secrets
        return len(secrets[0]) if secrets else 0

    def add(self, secret: str | None) -> None:
        """Never show ``secret`` (nor its encodings, nor any long line of a PEM key) again."""
        if not secret:
            return
        self._merge(_encoded_forms({secret, *_inner_parts(secret)}))

    def add_basic(self, username: str | None, password: str | None) -> None:
        """Never show ``username:password`` as Basic credentials (base64, any padding)."""
        if not password:
            return
        raw = f"{username or ''}:{password}".encode()
        encoded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
        self._merge(_encoded_forms(encoded | {value.rstrip("=") for value in encoded}))

    def _merge(self, forms: set[str]) -> None:
        with self._lock:
            merged = set(self._secrets) | {form for form in forms if form}
            self._secrets = tuple(sorted(merged, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _json_escaped(text: str) -> set[str]:
    """A string's body as JSON writers put it: ASCII-only (lower- or upper-case ``\\u``
    hex) or not, with or without ``/`` escaped."""
    ascii_only = json.dumps(text)[1:-1]
    forms = {ascii_only, json.dumps(text, ensure_ascii=False)[1:-1]}
    forms.add(_UNICODE_ESCAPE.sub(lambda match: match[0].upper().replace("\\U", "\\u"), ascii_only))
    forms |= {form.replace("/", "\\/") for form in forms}
    return forms


def _url_encoded(text: str) -> set[str]:
    """Percent-encodings a hub or a proxy may echo: strict, path-style, form-style, and each
    with lower-case hex."""
    forms = {quote(text, safe=""), quote(text), quote_plus(text)}
    return forms | {_PERCENT_HEX.sub(lambda match: match[0].lower(), form) for form in forms}


def _encoded_forms(values: set[str], depth: int = 2) -> set[str]:
    """``values`` with every encoding above, applied up to ``depth`` times over."""
    forms = set(values)
    for _level in range(depth):
        forms |= {
            encoded
            for form in forms
            for encoded in (*_json_escaped(form), *_url_encoded(form), html.escape(form))
        }
    return forms


_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-f]{4}")
_PERCENT_HEX = re.compile(r"%[0-9A-F]{2}")


def _inner_parts(secret: str) -> set[str]:
    """Pieces of a secret that may show up alone: a PEM's base64 lines, the credential of an
    ``Authorization`` value (``Basic <b64>``), what that base64 decodes to and its password."""
    parts = {line.strip() for line in secret.splitlines() if len(line.strip()) >= 16}
    scheme, _, credential = secret.partition(" ")
    if credential and scheme.isalpha():
        parts.add(credential)
        try:
            decoded = base64.b64decode(credential, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        if len(decoded) >= 4:
            parts.add(decoded)
            password = decoded.partition(":")[2]
            if len(password) >= 4:
                parts.add(password)
    return parts


def describe_request(request: httpx.Request) -> str:
    """``METHOD url`` with any credential-bearing query string replaced."""
    url = request.url
    params = {name.lower() for name in url.params}
    if params & _SECRET_PARAMS:
        url = url.copy_with(query=b"redacted")
    return f"{request.method} {url}"


def response_body(response: httpx.Response, redact: Redactor) -> str:
    """The answer's text for an error: secrets redacted, then cut to ``BODY_LIMIT``."""
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        text = "<unreadable body>"
    # cut first (a hub may answer megabytes), keeping any secret that straddles the limit whole
    text = redact(text[: BODY_LIMIT + redact.longest + 1])
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + "…[truncated]"


def error_from_response(response: httpx.Response, redact: Redactor, what: str) -> PheeError:
    """The typed error for a response that is not a success (``what``: e.g. "batch upload")."""
    endpoint = describe_request(response.request)
    status = response.status_code
    body = response_body(response, redact)
    message = _("PHEE {what} failed: {endpoint} answered {status}").format(
        what=what, endpoint=endpoint, status=status
    )
    if body:
        message += f": {body[:300]}"
    cls: type[PheeError]
    if status in (401, 403):
        cls, delivered = PheeAuthError, False
    elif status == 404:
        cls, delivered = PheeNotFound, False
    elif 400 <= status < 500:
        cls, delivered = PheeRejected, False
    elif status >= 500:
        cls, delivered = PheeUnavailable, True
    else:
        cls, delivered = PheeProtocolError, True
    return cls(message, endpoint=endpoint, status=status, body=body, maybe_delivered=delivered)


_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def error_from_transport(
    error: httpx.RequestError, redact: Redactor, what: str, sent: httpx.Request
) -> PheeError:
    """The typed error for a request that got no usable response.

    ``sent`` is the call's own request: when the failure belongs to another request (the token
    fetch that precedes it) the call itself was never sent.
    """
    failed = _request_of(error) or sent
    endpoint = describe_request(failed)
    detail = redact(f"{type(error).__name__}: {error}".rstrip(": "))
    if isinstance(error, httpx.DecodingError):
        message = _("PHEE {what}: the answer of {endpoint} could not be decoded ({detail})").format(
            what=what, endpoint=endpoint, detail=detail
        )
        return PheeProtocolError(message, endpoint=endpoint, maybe_delivered=True)
    delivered = failed is sent and not isinstance(error, _NOTHING_SENT)
    message = _("PHEE {what} failed: no answer from {endpoint} ({detail})").format(
        what=what, endpoint=endpoint, detail=detail
    )
    if failed is not sent:
        message += "; the call itself was not sent"
    elif delivered:
        message += "; the request may have reached the hub"
    else:
        message += "; nothing reached the hub"
    return PheeUnavailable(message, endpoint=endpoint, maybe_delivered=delivered)


def _request_of(error: httpx.RequestError) -> httpx.Request | None:
    try:
        return error.request
    except RuntimeError:
        return None
