"""Starting a large import as a job, and the file it reads.

``start_import`` keeps the uploaded file in ``import_files`` and submits the job in the caller's
transaction: both land together or neither does, and the job is dispatched only after the
commit. The job deletes the file when it ends (see ``import_jobs.files``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.import_jobs.kinds import PERMISSIONS, ImportKind
from g2p_payment_phee.import_jobs.models import ImportFile
from g2p_payment_phee.imports import Format
from g2p_payment_phee.jobs import service as jobs
from g2p_payment_phee.jobs.models import Job
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.programs.service import require_draft
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import authorize

INLINE_IMPORT_BYTES = 1024 * 1024
"""Files up to this size are imported during the request; larger ones become jobs."""


def runs_as_job(path: Path) -> bool:
    """Whether the file is large enough to be imported by a job rather than during the request."""
    return path.stat().st_size > INLINE_IMPORT_BYTES


def start_import(
    session: Session,
    actor: User,
    kind: ImportKind,
    path: Path,
    *,
    file_name: str,
    fmt: Format,
    dry_run: bool,
    cycle: Cycle | None = None,
) -> Job:
    """Keep the file and submit the job that imports it (the caller commits)."""
    authorize(actor, PERMISSIONS[kind])
    params: dict[str, Any] = {"dry_run": dry_run}
    if kind is ImportKind.ENTITLEMENTS:
        if cycle is None:
            raise ValidationFailed(_("an entitlement import needs a cycle"), [])
        require_draft(cycle)
        params["cycle_id"] = str(cycle.id)
    content = path.read_bytes()
    stored = ImportFile(
        kind=kind.value,
        file_name=file_name[:255],
        format=fmt,
        size=len(content),
        content=content,
        created_by=actor.username,
    )
    session.add(stored)
    session.flush()
    params["file_id"] = str(stored.id)
    return jobs.submit(session, actor, kind.job_kind, params)
