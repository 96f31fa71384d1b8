"""The Payment Hub EE client (SPEC 5): upload, summary, details, lookup, test connection.

Built like httpx/stripe clients: every setting on the instance, one ``httpx.Client`` with an
explicit timeout and TLS verification (optionally against a CA file), the bearer token as an
``httpx.Auth`` (:mod:`.auth`), typed errors carrying endpoint, status and the hub's (redacted)
answer (:mod:`.errors`), and retries only for reads (:mod:`.retry`).

>>> with PheeClient(settings, secrets) as hub:                      # doctest: +SKIP
...     accepted = hub.upload_batch(file_name="ph_ee_b1.csv", csv_bytes=data,
...                                 correlation_id=batch.correlation_id)
...     summary = hub.batch_summary(accepted.phee_batch_id)
...     if summary.is_finished:
...         listing = hub.batch_details(accepted.phee_batch_id)
...         for transfer in listing: ...
...         listing.problems                                        # rows that were unreadable

The client shares no code with the emulator; it must never import it.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import ssl
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from g2p_payment_phee.errors import ConfigurationError, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.phee.auth import PheeTokenAuth
from g2p_payment_phee.phee.details import (
    DetailPage,
    DetailProblem,
    Transfer,
    TransferListing,
    parse_detail_page,
)
from g2p_payment_phee.phee.errors import (
    PheeError,
    PheeProtocolError,
    Redactor,
    error_from_response,
    error_from_transport,
)
from g2p_payment_phee.phee.retry import RetryPolicy
from g2p_payment_phee.phee.settings import PheeSecrets, PheeSettings
from g2p_payment_phee.phee.signing import RequestSigner, normalise_csv_payload
from g2p_payment_phee.phee.wire import (
    BatchSummary,
    FoundBatch,
    UploadAccepted,
    decode_json,
    list_rows,
    match_batch,
    parse_summary,
    parse_upload_answer,
    row_correlation_ids,
)

__all__ = [
    "BatchSummary",
    "DetailProblem",
    "FoundBatch",
    "PheeClient",
    "RetryPolicy",
    "Transfer",
    "TransferListing",
    "UploadAccepted",
    "batch_list_url",
]

log = logging.getLogger(__name__)
_KOLKATA = timezone(timedelta(hours=5, minutes=30))  # the ops app's interface time zone
_LOOKUP_SKEW = timedelta(minutes=10)
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]*$")
_MAX_DETAIL_PAGES = 10_000


class PheeClient:
    """One PHEE manager's connection to its hub; thread-safe, reusable, closed with ``close()``.

    ``transport`` replaces the network (``httpx.MockTransport`` in tests); ``clock`` is the
    monotonic clock of the token cache; ``retry`` governs reads (never uploads).
    """

    def __init__(
        self,
        settings: PheeSettings,
        secrets: PheeSecrets,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._settings = settings
        self._redact = Redactor([secrets.password, secrets.authorization])
        self._redact.add(secrets.signing_private_key)
        self._redact.add_basic(settings.username, secrets.password)
        self._signer = _signer(secrets.signing_private_key)
        self._retry = retry or RetryPolicy()
        self._timeout = httpx.Timeout(settings.batch_request_timeout)
        self._clock = clock
        self._auth = _token_auth(settings, secrets, self._redact, clock)
        self._list_url = batch_list_url(settings.status_endpoint_url)
        _guard_httpx_log()
        self._http = httpx.Client(
            timeout=self._timeout,
            verify=_verify(settings),
            transport=transport,
            headers={"Platform-TenantId": settings.tenant_id, "Accept": "application/json"},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"PheeClient(tenant={self._settings.tenant_id!r})"

    def __enter__(self) -> PheeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    # --- sending ----------------------------------------------------------------------------

    def _call(self, request: httpx.Request, what: str, *, auth: bool = True) -> httpx.Response:
        """Send once; a non-2xx answer or no answer becomes the matching PheeError."""
        try:
            response = self._http.send(request, auth=self._auth if auth else None)
        except httpx.RequestError as error:
            raise error_from_transport(error, self._redact, what, request) from None
        if not response.is_success:
            raise error_from_response(response, self._redact, what)
        return response

    def _read(self, build: Callable[[], httpx.Request], what: str) -> httpx.Response:
        """A GET that is safe to repeat: retried on PheeUnavailable."""
        return self._retry.run(lambda: self._call(build(), what), what)

    # --- upload -----------------------------------------------------------------------------

    def upload_batch(
        self,
        *,
        file_name: str,
        csv_bytes: bytes,
        correlation_id: str,
        callback_url: str | None = None,
    ) -> UploadAccepted:
        """Submit one batch file (SPEC 5.2); never retried.

        The multipart body has exactly one part, ``data``, holding ``csv_bytes`` unchanged.
        Raises PheeRejected (4xx: not taken), PheeAuthError, PheeUnavailable or
        PheeProtocolError; check ``maybe_delivered`` before ever sending the batch again.
        """
        text = _checked_text(csv_bytes)
        payload = normalise_csv_payload(text) if self._signer is not None else ""
        headers = self._upload_headers(file_name, correlation_id, callback_url, payload)
        request = self._http.build_request(
            "POST",
            self._settings.payment_endpoint_url,
            headers=headers,
            files={"data": (file_name, csv_bytes, "text/csv")},
        )
        try:
            accepted = parse_upload_answer(self._call(request, "batch upload"), self._redact)
        except PheeError as error:
            raise _scrubbed(error, callback_url) from None
        log.info(
            "PHEE accepted %s (correlation id %s) as batch %s",
            file_name,
            correlation_id,
            accepted.phee_batch_id,
        )
        return accepted

    def _upload_headers(
        self, file_name: str, correlation_id: str, callback_url: str | None, payload: str
    ) -> dict[str, str]:
        s = self._settings
        headers = {
            "X-CorrelationID": correlation_id,
            "Platform-TenantId": s.tenant_id,
            "Type": s.batch_type_header,
            "Purpose": s.batch_purpose_header,
            "filename": file_name,
        }
        optional = {
            "X-CallbackURL": callback_url,
            "X-Registering-Institution-ID": s.registering_institution_id,
            "X-Program-ID": s.program_id_header,
        }
        headers.update({name: value for name, value in optional.items() if value})
        for name, value in headers.items():
            if not _HEADER_VALUE.match(value):
                raise ValidationFailed(
                    _("{name} {value!r} cannot be sent as an HTTP header").format(
                        name=name, value=value
                    )
                )
        if self._signer is not None:
            headers["X-SIGNATURE"] = self._signer.sign(correlation_id, s.tenant_id, payload)
        return headers

    # --- status -----------------------------------------------------------------------------

    def batch_summary(self, phee_batch_id: str) -> BatchSummary:
        """``GET {status_endpoint_url}/{id}``: counts and amounts (SPEC 5.3)."""
        url = f"{self._settings.status_endpoint_url}/{_segment(phee_batch_id)}"
        response = self._read(lambda: self._http.build_request("GET", url), "batch summary")
        return parse_summary(response, self._redact)

    def batch_details(self, phee_batch_id: str, page_size: int = 1000) -> TransferListing:
        """Every transfer of a batch, paged lazily; see :class:`TransferListing`."""
        _segment(phee_batch_id)
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        url = self._settings.details_endpoint_url

        def fetch(page: int) -> DetailPage:
            params: dict[str, str | int] = {
                "batchId": phee_batch_id,
                "pageNo": page,
                "pageSize": page_size,
            }
            response = self._read(
                lambda: self._http.build_request("GET", url, params=params), "batch details"
            )
            return parse_detail_page(response, self._redact, page, page_size)

        return TransferListing(fetch, max_pages=_MAX_DETAIL_PAGES, endpoint=f"GET {url}")

    # --- lookup -----------------------------------------------------------------------------

    def find_batch(
        self,
        correlation_id: str,
        *,
        since: datetime | None = None,
        page_size: int = 100,
        max_pages: int = 1000,
    ) -> FoundBatch | None:
        """The newest batch the hub stored under ``correlation_id`` (see :meth:`find_batches`)."""
        found = self.find_batches(
            correlation_id, since=since, page_size=page_size, max_pages=max_pages
        )
        return found[0] if found else None

    def find_batches(
        self,
        correlation_id: str,
        *,
        since: datetime | None = None,
        page_size: int = 100,
        max_pages: int = 1000,
    ) -> list[FoundBatch]:
        """Every batch the hub stored under ``correlation_id`` (SPEC 5.4), newest first: a hub
        may hold several (an upload stored late, a proxy that stored it twice).

        Empty only when a complete, readable listing holds none; any doubt raises a
        PheeError.  ``since`` (aware) limits the listing to batches started after it, less
        a margin for clock skew: pass a time before the batch's first send attempt.
        """
        return self.list_batches(
            {correlation_id}, since=since, page_size=page_size, max_pages=max_pages
        ).get(correlation_id, [])

    def list_batches(
        self,
        correlation_ids: set[str],
        *,
        since: datetime | None = None,
        page_size: int = 100,
        max_pages: int = 1000,
    ) -> dict[str, list[FoundBatch]]:
        """The hub's batches under any of ``correlation_ids``, by correlation id, newest first,
        read from every page of the batch list (one pass, whatever the number of ids). Raises a
        PheeError when the listing is incomplete, or has rows it cannot read while some of the
        ids were not found."""
        params: dict[str, str | int] = {"sort": "-startedAt", "limit": page_size}
        if since is not None:
            params["dateFrom"] = _ops_time(since - _LOOKUP_SKEW)
        found: dict[str, list[FoundBatch]] = {}
        seen: set[str] = set()
        unreadable = 0
        for page in range(max_pages):
            response = self._read_list({**params, "offset": page * page_size})
            rows, bad, total = list_rows(response, self._redact)
            unreadable += bad
            for row in rows:
                for correlation_id in correlation_ids & row_correlation_ids(row):
                    batch = match_batch(row, correlation_id)
                    if batch is not None and batch.phee_batch_id not in seen:
                        seen.add(batch.phee_batch_id)
                        found.setdefault(correlation_id, []).append(batch)
            count = len(rows) + bad
            if count < page_size or (total is not None and (page + 1) * page_size >= total):
                break
        else:
            raise self._lookup_doubt(
                _("the batch list did not end within {max_pages} pages").format(max_pages=max_pages)
            )
        if unreadable and correlation_ids - found.keys():
            # What was found is there; what was not may hide in the unreadable rows.
            raise self._lookup_doubt(
                _("{unreadable} rows of the batch list were unreadable").format(
                    unreadable=unreadable
                )
            )
        return found

    def _read_list(self, params: dict[str, str | int]) -> httpx.Response:
        return self._read(
            lambda: self._http.build_request("GET", self._list_url, params=params), "batch list"
        )

    def _lookup_doubt(self, reason: str) -> PheeProtocolError:
        message = _("PHEE batch lookup cannot prove the batch is absent: {reason}").format(
            reason=reason
        )
        return PheeProtocolError(message, endpoint=f"GET {self._list_url}", maybe_delivered=True)

    # --- test connection --------------------------------------------------------------------

    def test_connection(self) -> str:
        """Fetch a token (when configured) and read the batch list; a summary for people.

        No retries: the exact first failure is raised as a PheeError.
        """
        reports: list[str] = []
        if self._auth is not None:
            sent_at = self._clock()
            request = self._auth.token_request(self._timeout)
            response = self._call_token(request)
            token = self._auth.accept(response, sent_at)
            reports.append(_("token OK (valid {seconds} s)").format(seconds=int(token.expires_in)))
        else:
            reports.append(_("no auth endpoint configured, so no token is used"))
        request = self._http.build_request("GET", self._list_url, params={"limit": 1})
        data = decode_json(self._call(request, "batch list"), self._redact, "batch list")
        total = data.get("totalBatches") if isinstance(data, dict) else None
        reports.append(
            _("tenant {tenant_id!r} can read {list_url} ({total} batches)").format(
                tenant_id=self._settings.tenant_id, list_url=self._list_url, total=total
            )
        )
        reports.append(self._bulk_health())
        return "; ".join(reports)

    def payment_modes(self) -> list[str] | None:
        """The payment modes the hub routes, when it lists them (the bundled emulator does, at
        ``_emulator/payment-modes`` beside the bulk endpoint); None when it does not (a real
        PHEE has no such listing: it fails each row of an unknown mode while processing).
        One plain GET without a token; any failure means "not listed"."""
        url = _sibling(self._settings.payment_endpoint_url, "_emulator/payment-modes")
        try:
            response = self._call(self._http.build_request("GET", url), "payment modes", auth=False)
        except PheeError:
            return None
        data = _json_or_none(response)
        listed = data.get("paymentModes") if isinstance(data, dict) else None
        if not isinstance(listed, list):
            return None
        modes = [item.get("mode") if isinstance(item, dict) else item for item in listed]
        return [mode for mode in modes if isinstance(mode, str) and mode]

    def _call_token(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._http.send(request, auth=None)
        except httpx.RequestError as error:
            raise error_from_transport(error, self._redact, "token request", request) from None

    def _bulk_health(self) -> str:
        """The bulk processor's actuator: unreachable is an error, not exposed is a note."""
        url = _sibling(self._settings.payment_endpoint_url, "actuator/health")
        try:
            response = self._call(self._http.build_request("GET", url), "bulk health check")
        except PheeError as error:
            if error.status is None:
                raise
            return _("bulk processor reachable, health not exposed ({status})").format(
                status=error.status
            )
        data = _json_or_none(response)
        status = data.get("status") if isinstance(data, dict) else None
        return _("bulk processor health {value}").format(value=status or "unknown")


# --- construction helpers ---------------------------------------------------------------------


def _signer(private_key_pem: str | None) -> RequestSigner | None:
    if not private_key_pem:
        return None
    try:
        return RequestSigner(private_key_pem)
    except (ValueError, TypeError):
        raise ConfigurationError(
            _("the PHEE signing key is not a usable RSA private key")
        ) from None


def _token_auth(
    settings: PheeSettings, secrets: PheeSecrets, redact: Redactor, clock: Callable[[], float]
) -> PheeTokenAuth | None:
    if not settings.auth_endpoint_url:
        return None
    return PheeTokenAuth(
        token_url=settings.auth_endpoint_url,
        tenant_id=settings.tenant_id,
        username=settings.username,
        password=secrets.password,
        grant_type=settings.grant_type,
        authorization=secrets.authorization,
        redact=redact,
        clock=clock,
    )


def _verify(settings: PheeSettings) -> ssl.SSLContext | bool:
    """A CA file means verification against it; otherwise ``verify_tls`` decides.

    A verifying context is shared by every client of this process that verifies alike
    (SSLContext is safe to share): loading a trust store costs tens of milliseconds, which
    every send, sync and test connection would otherwise pay again. A CA file that is changed
    on disk is loaded anew."""
    if not settings.ca_bundle:
        if not settings.verify_tls:
            return False
        trust = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        return _shared_context(None, None, trust)
    try:
        found = os.stat(settings.ca_bundle)
    except OSError as error:
        raise ConfigurationError(
            _("CA bundle {ca_bundle} is unusable: {error}").format(
                ca_bundle=settings.ca_bundle, error=error
            )
        ) from None
    return _shared_context(settings.ca_bundle, (found.st_mtime_ns, found.st_size), (None, None))


@functools.lru_cache(maxsize=16)
def _shared_context(
    ca_bundle: str | None, stamp: tuple[int, int] | None, trust: tuple[str | None, str | None]
) -> ssl.SSLContext:
    """The verifying context of a CA file (as of ``stamp``: its mtime and size), or httpx's
    default one (certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``: ``trust``)."""
    if ca_bundle is None:
        return httpx.create_ssl_context()
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as error:
        raise ConfigurationError(
            _("CA bundle {ca_bundle} is unusable: {error}").format(ca_bundle=ca_bundle, error=error)
        ) from None


def batch_list_url(status_endpoint_url: str) -> str:
    """The ops batch list (``…/api/v1/batches``) beside the summary URL (``…/api/v1/batch``)."""
    url = status_endpoint_url.rstrip("/")
    if url.endswith("/batch"):
        return url + "es"
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/api/v1/batches", "", ""))


def _sibling(url: str, path: str) -> str:
    """``path`` in place of the last segment of ``url``."""
    parts = urlsplit(url)
    base = parts.path.rstrip("/").rsplit("/", 1)[0]
    return urlunsplit((parts.scheme, parts.netloc, f"{base}/{path}", "", ""))


def _segment(phee_batch_id: str) -> str:
    if not phee_batch_id or not phee_batch_id.strip():
        raise ValueError("a PHEE batch id is required")
    return quote(phee_batch_id, safe="")


def _ops_time(moment: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in the ops app's interface time zone (Asia/Kolkata)."""
    if moment.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    return moment.astimezone(_KOLKATA).strftime("%Y-%m-%d %H:%M:%S")


def _checked_text(csv_bytes: bytes) -> str:
    """The file as text; refuses a file PHEE would cut (it stops reading at an empty line)."""
    try:
        text = csv_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed(_("the batch file is not UTF-8 text")) from None
    if "\r" not in text and "\n\n" not in text and not text.startswith("\n"):
        return text  # no empty line but perhaps a last one: PHEE keeps every line
    payload = normalise_csv_payload(text)
    kept = payload.count("\n") + 1 if payload else 0
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    if kept < len(lines):
        raise ValidationFailed(
            _(
                "the batch file has an empty line after line {kept}: PHEE would drop "
                "the {count} lines after it"
            ).format(kept=kept, count=len(lines) - kept)
        )
    return text


def _scrubbed(error: PheeError, callback_url: str | None) -> PheeError:
    """The error without the callback URL, whose last segment is the batch's secret token
    (a hub may echo request headers in its error body)."""
    if callback_url:
        scrub = Redactor([callback_url, callback_url.rsplit("/", 1)[-1]])
        error.message, error.body = scrub(error.message), scrub(error.body)
        error.args = (error.message,)
    return error


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class _HttpxUrlRedaction(logging.Filter):
    """httpx logs every request URL at INFO; the token URL's query holds the password."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_safe_log_arg(arg) for arg in record.args)
        return True


def _safe_log_arg(arg: object) -> object:
    if isinstance(arg, httpx.URL) and any(
        name.lower() in ("password", "username", "client_secret") for name in arg.params
    ):
        return arg.copy_with(query=b"redacted")
    return arg


_LOG_FILTER = _HttpxUrlRedaction()


def _guard_httpx_log() -> None:
    logger = logging.getLogger("httpx")
    if _LOG_FILTER not in logger.filters:
        logger.addFilter(_LOG_FILTER)
