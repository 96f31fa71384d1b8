"""The bulk processor's face: ``/batchtransactions``, ``/simulate``, ``/actuator/health``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from . import bodies
from .auth import require_bearer
from .intake import Rejection, Upload, check_upload, signature_rejection
from .routing import GuardedRoute, state_of
from .signature import sign_text
from .state import EmulatorState

router = APIRouter(route_class=GuardedRoute)


def bulk_reply(state: EmulatorState, tenant: str | None, status: int, body: bytes) -> Response:
    """A bulk-processor answer with the JWS interceptor's response headers when enabled."""
    jws = state.config.jws
    headers: dict[str, str] = {}
    if tenant and (jws.verify_requests or jws.sign_responses):
        headers["Platform-TenantId"] = tenant
    if jws.sign_responses and body:
        keys = state.keyring.for_tenant(tenant)
        if keys is not None and keys.private_key is not None:
            headers["X-SIGNATURE"] = sign_text(keys.private_key, body.decode("utf-8"))
    media = bodies.JSON if body else None
    return Response(body, status_code=status, headers=headers, media_type=media)


async def read_capped(request: Request, cap: int) -> tuple[bytes, bool]:
    """The request body, or (partial body, True) when it is longer than ``cap`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return b"", True
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > cap:
            return bytes(data), True
    return bytes(data), False


@router.post("/batchtransactions")
async def batch_transactions(request: Request) -> Response:
    """Upload a bulk file (multipart CSV or raw JSON) and start its processing."""
    state = state_of(request)
    tenant = request.headers.get("platform-tenantid")
    if state.config.auth.enforce_bearer_on_upload:
        require_bearer(request, tenant or "")
    processing = state.config.processing
    body, truncated = await read_capped(
        request, max(processing.max_multipart_bytes, processing.max_raw_bytes)
    )
    result = check_upload(Upload(request.headers, body, truncated), state.config, state.keyring)
    if isinstance(result, Rejection):
        return bulk_reply(state, tenant, result.status, bodies.dumps(result.body))
    intake, csv_text = result
    batch = state.accept(intake, csv_text)
    await state.hold_upload()
    if processing.legacy_upload_response:
        legacy = bodies.legacy_accepted(batch.batch_id, batch.correlation_id)
        return bulk_reply(state, tenant, 200, bodies.dumps(legacy))
    accepted = bodies.polling_accepted(
        processing.polling_path, batch.batch_id, processing.suggested_callback_seconds
    )
    return bulk_reply(state, tenant, 202, bodies.dumps(accepted))


@router.post("/simulate")
async def simulate(request: Request) -> Response:
    """PHEE's dummy callback target: 200 with an empty body, behind the signature check."""
    state = state_of(request)
    tenant = request.headers.get("platform-tenantid")
    if state.config.jws.verify_requests:
        body, truncated = await read_capped(request, state.config.processing.max_raw_bytes)
        upload = Upload(request.headers, body, truncated)
        rejection = signature_rejection(state.keyring, request.headers, upload.payload())
        if rejection is not None:
            return bulk_reply(state, tenant, rejection.status, bodies.dumps(rejection.body))
    return bulk_reply(state, tenant, 200, b"")


@router.get("/actuator/health")
async def health() -> Response:
    """Spring Boot actuator health."""
    return bodies.json_response({"status": "UP"})
