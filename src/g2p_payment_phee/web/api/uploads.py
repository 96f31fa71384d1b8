"""Import files sent as multipart ``file`` (API and pages), and the per-row report answered.

The body is received here rather than by FastAPI's form parsing, so that it is refused with 413
*while* it is read (past MAX_UPLOAD_BYTES, or at once when Content-Length says so), after the
sign-in check, and lands in a temporary file on disk instead of memory. The import itself then
runs in a worker thread (the handlers are plain ``def``), never on the event loop.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from g2p_payment_phee.errors import FieldError, ImportRejected, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.import_jobs.kinds import ImportKind
from g2p_payment_phee.import_jobs.service import runs_as_job, start_import
from g2p_payment_phee.imports import Format, ImportReport
from g2p_payment_phee.jobs.models import Job
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.api.schemas import FieldErrorPublic
from g2p_payment_phee.web.deps import ApiUser

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
FORM_OVERHEAD_BYTES = 64 * 1024
"""Room for the multipart framing and the small fields (CSRF token, dry run) beside the file."""
_SNIFF_BYTES = 64

# The request body as OpenAPI shows it, since FastAPI no longer parses it itself.
UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The CSV or JSON file",
                        }
                    },
                }
            }
        },
    }
}
DryRun = Annotated[bool, Query(description="Check every row and write nothing")]
FormatQuery = Annotated[
    Literal["csv", "json"] | None,
    Query(alias="format", description="csv or json; guessed from the file name when left out"),
]


class ImportReportPublic(BaseModel):
    """What an import did (or, in a dry run, would do); ``errors`` names row, field and reason."""

    dry_run: bool
    file_name: str | None
    format: str
    rows: int
    created: int
    updated: int
    rejected: int
    imported: int
    summary: str
    errors: list[FieldErrorPublic]


def report_public(report: ImportReport) -> ImportReportPublic:
    """The report as answered."""
    return ImportReportPublic(
        dry_run=report.dry_run,
        file_name=report.file_name,
        format=report.format,
        rows=report.rows,
        created=report.created,
        updated=report.updated,
        rejected=report.rejected,
        imported=report.imported,
        summary=report.summary(),
        errors=[FieldErrorPublic(field=e.field, reason=e.reason, row=e.row) for e in report.errors],
    )


@dataclass
class ReceivedUpload:
    """An uploaded file on disk (``path``, None when no file was chosen) and the form's fields.

    ``head`` is the file's first bytes, to tell CSV from JSON when the name does not.
    """

    path: Path | None
    name: str
    head: bytes = b""
    fields: dict[str, str] = field(default_factory=dict)

    def require(self) -> Path:
        """The file's path; ValidationFailed when no file (or an empty one) was sent."""
        if self.path is None:
            raise ValidationFailed(
                _("choose a file to upload"), [FieldError("file", _("choose a file"))]
            )
        return self.path

    def format(self, asked: Format | None) -> Format:
        """The format asked for, else told by the file's name, else by its first character."""
        if asked is not None:
            return asked
        suffix = PurePath(self.name).suffix.lower()
        if suffix in {".csv", ".json"}:
            return "csv" if suffix == ".csv" else "json"
        first = self.head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        return "json" if first in {b"[", b"{"} else "csv"


def _too_large() -> HTTPException:
    limit = MAX_UPLOAD_BYTES // (1024 * 1024)
    return HTTPException(413, _("the file is larger than {limit} MB").format(limit=limit))


async def _counted(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise _too_large()
        yield chunk


async def receive_upload(request: Request) -> AsyncIterator[ReceivedUpload]:
    """The multipart body's ``file`` in a temporary file, removed after the request.

    413 as soon as the body passes the limit; a body that is not a multipart form has no file.
    The form's other fields are kept on the request (``request.state.form_fields``), so that
    the pages' CSRF check reads them from there instead of from the (already read) body.
    """
    limit = MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large()
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        # No file can be in it; a page's form is left for the CSRF check to read.
        yield ReceivedUpload(None, "upload")
        return
    parser = MultiPartParser(
        request.headers, _counted(request.stream(), limit), max_files=1, max_fields=10
    )
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise HTTPException(400, error.message) from None
    try:
        upload = form.get("file")
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        request.state.form_fields = fields
        received = await run_in_threadpool(_to_disk, upload, fields)
        try:
            yield received
        finally:
            if received.path is not None:
                received.path.unlink(missing_ok=True)
    finally:
        await form.close()


def _to_disk(upload: Any, fields: dict[str, str]) -> ReceivedUpload:
    if not isinstance(upload, UploadFile) or not upload.filename:
        return ReceivedUpload(None, "upload", fields=fields)
    name = PurePath(upload.filename).name.replace("\x00", "") or "upload"
    upload.file.seek(0)
    head = upload.file.read(_SNIFF_BYTES)
    if not head:
        return ReceivedUpload(None, name, fields=fields)
    upload.file.seek(0)
    with tempfile.NamedTemporaryFile(prefix="g2p-import-", delete=False) as copy:
        shutil.copyfileobj(upload.file, copy, 1 << 20)
    return ReceivedUpload(Path(copy.name), name, head, fields)


def check_text(path: Path) -> None:
    """ImportRejected when the file holds NUL bytes (a binary file, not CSV or JSON)."""
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            if b"\x00" in block:
                raise ImportRejected(
                    _("the file contains NUL bytes: it is not a CSV or JSON text file")
                )


def import_job(
    session: Session,
    actor: User,
    kind: ImportKind,
    upload: ReceivedUpload,
    *,
    fmt: Format,
    dry_run: bool,
    cycle: Cycle | None = None,
) -> Job | None:
    """The job importing the upload when it is too large to import during the request (more
    than INLINE_IMPORT_BYTES); None for a file imported at once."""
    path = upload.require()
    if not runs_as_job(path):
        return None
    return start_import(
        session, actor, kind, path, file_name=upload.name, fmt=fmt, dry_run=dry_run, cycle=cycle
    )


async def receive_api_upload(
    _user: ApiUser, upload: Annotated[ReceivedUpload, Depends(receive_upload)]
) -> ReceivedUpload:
    """The API's upload: the bearer token is checked before the body is read."""
    return upload


ApiUpload = Annotated[ReceivedUpload, Depends(receive_api_upload)]
