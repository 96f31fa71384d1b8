"""Files written whole, then streamed as attachments (exports and reports).

The file is written in a private temporary folder (0700) first: an error (an XLSX too long,
the database gone) is an error answer, never a download cut short, and the request's
transaction, which audits the file, ends before the first byte. The folder is removed as soon
as the file is open, so nothing is left on disk whatever happens to the download.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

from fastapi.responses import StreamingResponse

READ_BYTES = 256 * 1024
Written = TypeVar("Written")


def written_file(
    prefix: str, write: Callable[[Path], Written], path_of: Callable[[Written], Path]
) -> tuple[Written, BinaryIO]:
    """``write(folder)``'s result and its file, open; the folder is already gone."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        result = write(folder)
        handle = path_of(result).open("rb")
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # an open file lives on until it is closed
    return result, handle


def attachment(
    handle: BinaryIO, name: str, media_type: str, headers: dict[str, str]
) -> StreamingResponse:
    """The open file as a download named ``name``, with ``headers`` besides."""
    answer_headers = {
        **headers,
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(os.fstat(handle.fileno()).st_size),
    }
    return StreamingResponse(_read(handle), media_type=media_type, headers=answer_headers)


def _read(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(READ_BYTES):
            yield chunk
