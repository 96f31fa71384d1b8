"""Checks every API request gets before its route runs.

Text with a NUL character is never valid input here, and PostgreSQL cannot even store it (it
would surface as a server error deep in a service): a NUL in the path, a query parameter or a
JSON body is refused up front with a 422 naming where it was.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from fastapi import Request

from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _

NUL = "\x00"


async def reject_nul_text(request: Request) -> None:
    """ValidationFailed when the path, a query parameter or a JSON body holds a NUL."""
    problems: list[FieldError] = []
    if NUL in request.url.path:
        problems.append(FieldError("path", _("contains a NUL character")))
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            problems.append(FieldError(name.replace(NUL, ""), _("contains a NUL character")))
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        if b"\\u0000" in body or b"\x00" in body:
            with contextlib.suppress(ValueError):  # not JSON: the route's validation says so
                problems.extend(_nul_fields(json.loads(body), "body"))
    if problems:
        raise ValidationFailed(_("text must not contain NUL characters"), problems)


def _nul_fields(value: Any, where: str) -> list[FieldError]:
    if isinstance(value, str):
        return [FieldError(where, _("contains a NUL character"))] if NUL in value else []
    if isinstance(value, list):
        return [e for i, item in enumerate(value) for e in _nul_fields(item, f"{where}.{i}")]
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            name = f"{where}.{str(key).replace(NUL, '')}"
            if NUL in str(key):
                found.append(FieldError(name, _("contains a NUL character")))
            found.extend(_nul_fields(item, name))
        return found
    return []
