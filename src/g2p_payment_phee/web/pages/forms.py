"""Reading what a page was sent: ids in paths, filters in queries, field errors for forms."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import UploadFile

from g2p_payment_phee.errors import FieldError, NotFound, ValidationFailed
from g2p_payment_phee.i18n import _, lazy_gettext

E = TypeVar("E", bound=StrEnum)
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


# what a page's address names, for its "not found" message (callers pass the English key)
THINGS: dict[str, Any] = {
    "API token": lazy_gettext("API token"),
    "cycle": lazy_gettext("cycle"),
    "payment": lazy_gettext("payment"),
    "payment batch": lazy_gettext("payment batch"),
    "program": lazy_gettext("program"),
    "subject": lazy_gettext("subject"),
}


def path_id(text: str, what: str) -> uuid.UUID:
    """The UUID in a page's address; NotFound (a 404 page) for anything else."""
    try:
        return uuid.UUID(text)
    except ValueError:
        thing = str(THINGS.get(what, what))
        message = _("there is no {what} with the id {text!r}").format(what=thing, text=text)
        raise NotFound(message) from None


def choice(cls: type[E], text: str | None, field: str) -> E | None:
    """An optional filter value of an enum; ValidationFailed naming the field otherwise."""
    if not text:
        return None
    try:
        return cls(text)
    except ValueError:
        allowed = ", ".join(member.value for member in cls)
        raise ValidationFailed(
            _("{field} must be one of: {allowed}").format(field=field, allowed=allowed),
            [FieldError(field, _("one of: {allowed}").format(allowed=allowed))],
        ) from None


def field_errors(error: ValidationFailed, default: str = "") -> dict[str, str]:
    """The error's problems by field name (for messages next to each field); a field with
    several problems shows them all."""
    found: dict[str, str] = {}
    for problem in error.errors:
        name = problem.field.split(".")[-1]
        found[name] = f"{found[name]}; {problem.reason}" if name in found else problem.reason
    if not found and default:
        found[default] = error.message
    return found


async def read_upload(upload: UploadFile | None, field: str = "file") -> tuple[bytes, str]:
    """The uploaded file's bytes and name; ValidationFailed when missing, empty or too big."""
    data = await upload.read(MAX_UPLOAD_BYTES + 1) if upload is not None else b""
    if upload is None or not upload.filename or not data:
        raise ValidationFailed(
            _("choose a file to upload"), [FieldError(field, _("choose a file"))]
        )
    if len(data) > MAX_UPLOAD_BYTES:
        limit = MAX_UPLOAD_BYTES // (1024 * 1024)
        raise ValidationFailed(
            _("the file is larger than {limit} MB").format(limit=limit),
            [FieldError(field, _("at most {limit} MB").format(limit=limit))],
        )
    return data, upload.filename
