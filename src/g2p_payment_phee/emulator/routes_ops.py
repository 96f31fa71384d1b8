"""The operations app's face: ``/oauth/token`` and the ``/api/v1`` batch endpoints."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from . import bodies
from .auth import basic_client, known_user, ops_access, ops_tenant
from .csvfile import Row
from .models import BatchRecord
from .routing import GuardedRoute, Reply, request_file_url, result_file_url, state_of
from .summaries import (
    aggregate_dto,
    batch_and_sub_batches,
    batches_page,
    list_item,
    payment_batch_detail,
    stored_dto,
    sub_batch_detail,
)
from .tokens import Grant, TokenCheck
from .transfers import rows_of, spring_page, transaction_id, transfer_json, transfer_status

router = APIRouter(route_class=GuardedRoute)
Tenant = Annotated[str, Depends(ops_access)]

_KOLKATA = timezone(timedelta(hours=5, minutes=30))
_STATUS_FILTERS = {"ALL", "COMPLETED", "FAILED", "IN_PROGRESS", "UNKNOWN", "EXCEPTION"}


def _bad_request(request: Request, message: str) -> Reply:
    body = bodies.spring_error(400, "Bad Request", message, request.url.path)
    return Reply(bodies.json_response(body, status=400))


def _required_param(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None:
        raise _bad_request(
            request,
            f"Required request parameter '{name}' for method parameter type String is not present",
        )
    return value


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise _bad_request(
            request,
            "Failed to convert value of type 'java.lang.String' to required type 'int'; "
            f'nested exception is java.lang.NumberFormatException: For input string: "{raw}"',
        ) from None


def _require_header(request: Request, name: str) -> None:
    if request.headers.get(name) is None:
        raise _bad_request(
            request,
            f"Required request header '{name}' for method parameter type String is not present",
        )


# --- token --------------------------------------------------------------------------------


@router.post("/oauth/token")
async def token(request: Request) -> Response:
    """Password, client-credentials and refresh-token grants (Spring Security OAuth2)."""
    tenant = ops_tenant(request)
    state = state_of(request)
    auth = state.config.auth
    params = dict(request.query_params)
    if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
        form = (await request.body()).decode("utf-8", errors="replace")
        params = {**dict(parse_qsl(form)), **params}
    client = basic_client(request.headers.get("authorization"), auth.clients)
    if client is None:
        body = bodies.spring_error(401, "Unauthorized", "Unauthorized", request.url.path)
        headers = {"WWW-Authenticate": 'Basic realm="oauth2/client"'}
        return bodies.json_response(body, status=401, headers=headers)
    grant = _grant(request, params, client.client_id, client.grant_types, tenant)
    return bodies.json_response(
        state.tokens.issue(grant, auth.token_ttl_seconds, auth.refresh_token_ttl_seconds)
    )


def _grant(
    request: Request, params: dict[str, str], client_id: str, allowed: list[str], tenant: str
) -> Grant:
    state = state_of(request)
    grant_type = params.get("grant_type")
    if not grant_type:
        raise Reply(bodies.json_response(bodies.oauth_error("Missing grant type"), status=400))
    if grant_type not in allowed:
        message = f"Unauthorized grant type: {grant_type}"
        raise Reply(bodies.json_response(bodies.oauth_error(message), status=400))
    if grant_type == "password":
        if not known_user(params.get("username"), params.get("password"), state.config.auth.users):
            raise Reply(bodies.json_response(bodies.bad_credentials(request.url.path), status=401))
        return Grant(tenant, client_id, params["username"])
    if grant_type == "client_credentials":
        return Grant(tenant, client_id, None)
    if grant_type == "refresh_token":
        refresh = params.get("refresh_token", "")
        found = state.tokens.grant_of(refresh)
        if state.tokens.check(refresh, tenant, refresh=True) is not TokenCheck.VALID or not found:
            error = bodies.oauth_error(f"Invalid refresh token: {refresh}")
            raise Reply(bodies.json_response(error, status=400))
        return Grant(tenant, client_id, found.user_name)
    message = f"Unsupported grant type: {grant_type}"
    raise Reply(bodies.json_response(bodies.oauth_error(message), status=400))


# --- /batch -------------------------------------------------------------------------------


def _batch_or_404(request: Request, batch_id: str, tenant: str) -> BatchRecord:
    batch = state_of(request).store.get(batch_id, tenant)
    if batch is None:
        raise Reply(bodies.batch_not_found(batch_id))
    return batch


@router.get("/api/v1/batch/detail")
async def batch_detail(request: Request, tenant: Tenant) -> Response:
    """Paged transfers of a batch; a status filter only matches the parent's own transfers."""
    state = state_of(request)
    batch_id = _required_param(request, "batchId")
    page = _int_param(request, "pageNo", 0)
    size = _int_param(request, "pageSize", 10)
    wanted = request.query_params.get("status", "ALL")
    if wanted not in _STATUS_FILTERS or page < 0 or size < 1:
        body = bodies.spring_error(
            500, "Internal Server Error", "Invalid paging or status", request.url.path
        )
        return bodies.json_response(body, status=500)
    batch = state.store.get(batch_id, tenant)
    if request.query_params.get("command") == "download":
        url = result_file_url(request, batch) if batch else None
        return RedirectResponse(url, status_code=302) if url else bodies.empty(404)
    if batch is None:
        return bodies.json_response(spring_page([], page, size, 0))
    now = state.clock.now()
    rows = _filtered_rows(batch, wanted, now)
    content = [
        transfer_json(
            batch,
            row,
            now,
            modes=state.config.processing.payment_modes,
            quote_ids=state.config.outcomes.quote_client_correlation_ids,
        )
        for row in rows[page * size : (page + 1) * size]
    ]
    return bodies.json_response(spring_page(content, page, size, len(rows)))


def _filtered_rows(batch: BatchRecord, wanted: str, now: float) -> list[Row]:
    """All rows, or (as in PHEE) only the parent's own transfers with the wanted status."""
    rows = rows_of(batch)
    if wanted == "ALL":
        return rows
    return [
        row
        for row in rows
        if batch.transfer_batch_id(row.position) == batch.batch_id
        and transfer_status(batch, row.position, now).value == wanted
    ]


@router.get("/api/v1/batch/transactions")
async def batch_transactions_map(request: Request, tenant: Tenant) -> Response:
    """``{transactionId: status}`` of a batch; an empty object for an unknown batch."""
    state = state_of(request)
    batch = state.store.get(_required_param(request, "batchId"), tenant)
    if batch is None:
        return bodies.json_response({})
    now = state.clock.now()
    return bodies.json_response(
        {
            transaction_id(batch, index): transfer_status(batch, index, now).value
            for index in range(batch.row_count)
        }
    )


@router.get("/api/v1/batch/{batch_id}")
async def batch_aggregate(request: Request, batch_id: str, tenant: Tenant) -> Response:
    """Summary recomputed from transfers (and written back to the stored row)."""
    batch = _batch_or_404(request, batch_id, tenant)
    counts = state_of(request).aggregate(batch)
    return bodies.json_response(aggregate_dto(batch, counts, result_file_url(request, batch)))


@router.get("/api/v1/batch")
async def batch_stored(request: Request, tenant: Tenant) -> Response:
    """Summary from the stored row, without recompute (may be stale)."""
    batch = _batch_or_404(request, _required_param(request, "batchId"), tenant)
    return bodies.json_response(stored_dto(batch, result_file_url(request, batch)))


# --- /batches -----------------------------------------------------------------------------

_SORT_KEYS: dict[str, Callable[[BatchRecord], Any]] = {
    "startedAt": lambda b: b.started_at,
    "completedAt": lambda b: b.completed_at or 0.0,
    "batchId": lambda b: b.batch_id,
    "requestId": lambda b: b.correlation_id,
    "totalTransactions": lambda b: b.row_count,
    "totalAmount": lambda b: b.stored_counts().total_amount,
    "ongoing": lambda b: b.stored_counts().ongoing,
    "failed": lambda b: b.stored_counts().failed,
    "completed": lambda b: b.stored_counts().successful,
    "registeringInstitutionId": lambda b: b.registering_institution_id or "",
    "payerFsp": lambda b: b.tenant,
}


class _ListError(Exception):
    """Any bad ``/batches`` parameter: PHEE answers 400 with an empty body."""


def _kolkata(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=_KOLKATA).timestamp()
    except ValueError as exc:
        raise _ListError from exc


def _list_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    try:
        return default if raw in (None, "") else int(raw)  # type: ignore[arg-type]
    except ValueError as exc:
        raise _ListError from exc


def _filtered(request: Request, tenant: str) -> list[BatchRecord]:
    q = request.query_params
    start, end = _kolkata(q.get("dateFrom")), _kolkata(q.get("dateTo"))
    sort = q.get("sort", "-startedAt")
    key = _SORT_KEYS.get(sort[1:])
    if key is None:
        raise _ListError
    found = [
        b
        for b in state_of(request).store.for_tenant(tenant)
        if (not q.get("batchId") or b.batch_id == q["batchId"])
        and (
            not q.get("registeringInstitutionId")
            or b.registering_institution_id == q["registeringInstitutionId"]
        )
        and (not q.get("payerFsp") or b.tenant == q["payerFsp"])
        and (start is None or b.started_at >= start)
        and (end is None or b.started_at <= end)
    ]
    return sorted(found, key=key, reverse=sort.startswith("-"))


@router.get("/api/v1/batches")
async def batches(request: Request, tenant: Tenant) -> Response:
    """Paged list of parent batches with totals; page = floor(offset / limit)."""
    try:
        offset = _list_int(request, "offset", 0)
        limit = _list_int(request, "limit", 10)
        if offset < 0 or limit < 1:
            raise _ListError
        found = _filtered(request, tenant)
    except _ListError:
        return bodies.empty(400)
    start = (offset // limit) * limit
    page = [list_item(b, result_file_url(request, b)) for b in found[start : start + limit]]
    return bodies.json_response(batches_page(found, page))


def _batches_404(request: Request, batch_id: str, tenant: str) -> BatchRecord:
    _require_header(request, "X-Correlation-ID")
    batch = state_of(request).store.get(batch_id, tenant)
    if batch is None:
        raise Reply(bodies.empty(404))
    return batch


@router.get("/api/v1/batches/{batch_id}")
async def batch_with_sub_batches(request: Request, batch_id: str, tenant: Tenant) -> Response:
    """Stored summary with sub-batches, or the PaymentBatchDetail with ``associations=all``."""
    batch = _batches_404(request, batch_id, tenant)
    now = state_of(request).clock.now()
    if request.query_params.get("associations") == "all":
        offset = max(_int_param(request, "offset", 0), 0)
        limit = max(_int_param(request, "limit", 10), 1)
        descending = request.query_params.get("sortBy", "asc").lower() == "desc"
        detail = payment_batch_detail(
            batch, now, page=offset // limit, limit=limit, descending=descending
        )
        return bodies.json_response(detail)
    body = batch_and_sub_batches(
        batch, result_file_url(request, batch), request_file_url(request, batch), now
    )
    return bodies.json_response(body)


@router.get("/api/v1/batches/{batch_id}/subBatches/{sub_batch_id}")
async def sub_batch(request: Request, batch_id: str, sub_batch_id: str, tenant: Tenant) -> Response:
    """One sub-batch with its instructions."""
    batch = _batches_404(request, batch_id, tenant)
    found = state_of(request).store.sub_batch(sub_batch_id)
    if found is None or found[0] is not batch:
        return bodies.empty(404)
    now = state_of(request).clock.now()
    return bodies.json_response(
        sub_batch_detail(batch, found[1], now, request_file_url(request, batch))
    )
