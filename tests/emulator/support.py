"""Helpers for the emulator tests: PHEE-style uploads and reads over real HTTP."""

from __future__ import annotations

import queue
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from g2p_payment_phee.emulator.config import TenantKeys

CANONICAL_HEADER = (
    "id,request_id,payment_mode,payer_identifier_type,payer_identifier,"
    "payee_identifier_type,payee_identifier,amount,currency,note"
)


def vector_keys(vectors: dict[str, Any]) -> dict[str, TenantKeys]:
    """gorilla, rhino and default carry the test key pair (certificate + private key)."""
    keys = TenantKeys(
        certificate=vectors["phee_config_certificate_b64"],
        private_key=vectors["phee_config_private_key_b64"],
    )
    return {"gorilla": keys, "rhino": keys, "default": keys}


def upload_headers(
    filename: str = "batch.csv",
    *,
    tenant: str = "gorilla",
    correlation_id: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The headers the peer tests send with a CSV upload."""
    headers = {
        "X-CorrelationID": correlation_id or str(uuid.uuid4()),
        "Platform-TenantId": tenant,
        "Type": "CSV",
        "Purpose": "test payment",
        "filename": filename,
    }
    headers.update(extra)
    return headers


def upload(
    http: httpx.Client,
    content: bytes,
    filename: str = "batch.csv",
    **header_options: Any,
) -> httpx.Response:
    """POST ``content`` as the single multipart part ``data`` (``timeout=`` is not a header)."""
    timeout: float | None = header_options.pop("timeout", None)
    headers = upload_headers(filename, **header_options)
    files = {"data": (filename, content, "text/csv")}
    if timeout is None:
        return http.post("/batchtransactions", files=files, headers=headers)
    return http.post("/batchtransactions", files=files, headers=headers, timeout=timeout)


def batch_id_of(response: httpx.Response) -> str:
    """The PHEE batch id: last segment of PollingPath."""
    assert response.status_code == 202, response.text
    path: str = response.json()["PollingPath"]
    return path.rsplit("/", 1)[-1]


def summary(http: httpx.Client, batch_id: str, tenant: str = "gorilla") -> dict[str, Any]:
    """``GET /api/v1/batch/{id}`` (the aggregate)."""
    response = http.get(f"/api/v1/batch/{batch_id}", headers={"Platform-TenantId": tenant})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def detail(
    http: httpx.Client, batch_id: str, tenant: str = "gorilla", **params: Any
) -> dict[str, Any]:
    """``GET /api/v1/batch/detail``."""
    response = http.get(
        "/api/v1/batch/detail",
        params={"batchId": batch_id, **params},
        headers={"Platform-TenantId": tenant},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def csv_file(rows: list[str], header: str | None = None) -> bytes:
    """A CSV in PHEE's canonical form (LF, no trailing newline)."""
    head = header or CANONICAL_HEADER
    return "\n".join([head, *rows]).encode()


def rows(count: int, *, mode: str = "mojaloop", amount: str = "10", start: int = 0) -> list[str]:
    """``count`` distinct data rows (fresh request_ids, distinct payees)."""
    return [
        f"{i},{uuid.uuid4()},{mode},msisdn,2547000000,msisdn,25471{start + i:07d},{amount},USD,note"
        for i in range(count)
    ]


@dataclass
class CallbackReceiver:
    """A loopback HTTP server that queues every POST it receives."""

    url: str
    received: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)

    def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next callback, waiting at most ``timeout`` seconds."""
        return self.received.get(timeout=timeout)
