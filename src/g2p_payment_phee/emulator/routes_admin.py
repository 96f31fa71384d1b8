"""Admin and inspection endpoints under ``/_emulator`` (not part of PHEE; no auth, no tenant)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import PlainTextResponse, Response

from .bodies import json_response
from .config import FaultConfig, OutcomeConfig, merge_patch
from .routing import GuardedRoute, state_of
from .transfers import result_file

PREFIX = "/_emulator"
router = APIRouter(prefix=PREFIX, route_class=GuardedRoute)


class Advance(BaseModel):
    """Body of ``POST /_emulator/clock/advance``."""

    seconds: float = Field(ge=0)


@router.get("/config")
async def get_config(request: Request) -> Response:
    """The configuration in force."""
    return json_response(state_of(request).config.model_dump(mode="json"))


@router.patch("/config")
async def patch_config(request: Request, patch: dict[str, Any]) -> Response:
    """Change sections of the configuration (each named field is replaced whole)."""
    state = state_of(request)
    try:
        state.reconfigure(merge_patch(state.config, patch))
    except (ValidationError, ValueError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return json_response(state.config.model_dump(mode="json"))


@router.get("/payment-modes")
async def payment_modes(request: Request) -> Response:
    """The payment modes this hub routes (a real PHEE lists none: it fails each row of an
    unknown mode "Payment mode not configured" while processing)."""
    modes = state_of(request).config.processing.payment_modes
    return json_response(
        {
            "paymentModes": [
                {"mode": mode, "type": kind.value} for mode, kind in sorted(modes.items())
            ]
        }
    )


@router.get("/faults")
async def get_faults(request: Request) -> Response:
    """Fault settings and how often each rule fired."""
    state = state_of(request)
    body = state.config.faults.model_dump(mode="json")
    body["fired"] = list(state.faults.fired)
    body["held"] = state.held_requests()
    return json_response(body)


@router.put("/faults")
async def put_faults(request: Request, faults: FaultConfig) -> Response:
    """Replace the fault settings; rule counters restart."""
    state_of(request).set_faults(faults)
    return json_response(faults.model_dump(mode="json"))


@router.get("/outcomes")
async def get_outcomes(request: Request) -> Response:
    """Outcome settings."""
    return json_response(state_of(request).config.outcomes.model_dump(mode="json"))


@router.put("/outcomes")
async def put_outcomes(request: Request, outcomes: OutcomeConfig) -> Response:
    """Replace the outcome settings (for batches accepted from now on)."""
    state_of(request).set_outcomes(outcomes)
    return json_response(outcomes.model_dump(mode="json"))


@router.get("/inspect")
async def inspect_all(request: Request, tenant: str | None = None) -> Response:
    """Per request_id accepted/paid counts and final status; totals per tenant."""
    return json_response(state_of(request).inspect(tenant))


@router.get("/inspect/{request_id}")
async def inspect_one(request: Request, request_id: str) -> Response:
    """What happened to one request_id."""
    found = state_of(request).inspect()["request_ids"].get(request_id)
    if found is None:
        raise HTTPException(status_code=404, detail="request_id never seen")
    return json_response(found)


@router.get("/batches")
async def list_batches(request: Request, tenant: str | None = None) -> Response:
    """Every stored batch, briefly."""
    state = state_of(request)
    now = state.clock.now()
    return json_response(
        [
            {
                "batch_id": b.batch_id,
                "tenant": b.tenant,
                "correlation_id": b.correlation_id,
                "rows": b.row_count,
                "final": b.is_final(now),
                "finished": b.finished,
                "callback_url": b.callback_url,
            }
            for b in state.store
            if tenant is None or b.tenant == tenant
        ]
    )


@router.get("/callbacks")
async def callbacks(request: Request) -> Response:
    """Every callback attempt so far."""
    return json_response([c.to_json() for c in state_of(request).workflow.callbacks])


@router.post("/reset")
async def reset(request: Request) -> Response:
    """Forget all batches, callbacks and fault counters."""
    state_of(request).reset()
    return json_response({"reset": True})


@router.post("/clock/advance")
async def advance(request: Request, body: Advance) -> Response:
    """Move the emulator clock forward (transfers and tokens age at once)."""
    state = state_of(request)
    state.advance(body.seconds)
    return json_response({"offset_seconds": state.clock.offset})


@router.post("/complete-all")
async def complete_all(request: Request) -> Response:
    """Make every transfer final now and finish every batch."""
    return json_response({"finished": state_of(request).complete_all()})


@router.post("/tokens/expire")
async def expire_tokens(request: Request) -> Response:
    """Invalidate every token issued so far."""
    state_of(request).expire_tokens()
    return json_response({"expired": True})


@router.post("/hangs/release")
async def release_hangs(request: Request) -> Response:
    """Let every hanging request answer now."""
    state_of(request).release_hangs()
    return json_response({"released": True})


@router.get("/files/{batch_id}/{name}")
async def files(request: Request, batch_id: str, name: str) -> Response:
    """The saved request file, or the result file once the batch has finished."""
    state = state_of(request)
    batch = state.store.get(batch_id)
    if batch is None or name not in ("request.csv", "result.csv"):
        raise HTTPException(status_code=404, detail="no such file")
    if name == "request.csv":
        return PlainTextResponse(batch.csv_text, media_type="text/csv")
    if not batch.finished:
        raise HTTPException(status_code=404, detail="batch not finished")
    return PlainTextResponse(result_file(batch, state.clock.now()), media_type="text/csv")
