"""Import files sent to the API (multipart ``file``) and the per-row report answered for them."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Literal

from fastapi import File, Query, UploadFile
from pydantic import BaseModel

from g2p_payment_phee.errors import FieldError, ImportRejected, ValidationFailed
from g2p_payment_phee.imports import Format, ImportReport
from g2p_payment_phee.web.api.schemas import FieldErrorPublic

MAX_UPLOAD_BYTES = 50 * 1024 * 1024

Upload = Annotated[UploadFile, File(description="The CSV or JSON file")]
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


async def read_upload(upload: UploadFile, fmt: Format | None) -> tuple[bytes, Format, str]:
    """The file's bytes, its format (asked for, or told by its name or first character) and
    its name; ValidationFailed when it is too large."""
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationFailed(
            "the file is too large",
            [FieldError("file", f"at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")],
        )
    if b"\x00" in data:
        raise ImportRejected("the file contains NUL bytes: it is not a CSV or JSON text file")
    name = PurePath(upload.filename or "upload").name.replace("\x00", "") or "upload"
    return data, fmt or _guess(name, data), name


def _guess(name: str, data: bytes) -> Format:
    suffix = PurePath(name).suffix.lower()
    if suffix in {".csv", ".json"}:
        return "csv" if suffix == ".csv" else "json"
    first = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "json" if first in {b"[", b"{"} else "csv"
