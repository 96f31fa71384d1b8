"""The bodies of import jobs: read the kept file, import it in one transaction, delete it.

The import writes in one transaction, as when it runs during a request: a file that cannot be
read changes nothing and fails the job with the reason. The file is deleted when the job ends
either way, except when the database was lost (the run is retried and needs it again).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from g2p_payment_phee.background import Work
from g2p_payment_phee.db import is_database_lost, unit_of_work
from g2p_payment_phee.errors import NotFound, PermissionDenied
from g2p_payment_phee.i18n import _
from g2p_payment_phee.import_jobs.files import discard_file
from g2p_payment_phee.import_jobs.kinds import ImportKind
from g2p_payment_phee.import_jobs.models import ImportFile
from g2p_payment_phee.imports import ImportReport
from g2p_payment_phee.programs.entitlement_import import import_entitlements
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.registry.importer import import_registrants

ERRORS_LISTED = 500


def run_import(kind: ImportKind, work: Work) -> dict[str, Any]:
    """Import the job's file as ``work.actor``; the report as the job's result."""
    if work.actor is None:
        raise PermissionDenied(_("an {job_kind} job needs a user").format(job_kind=kind.job_kind))
    actor = work.actor
    file_id = work.uuid("file_id")
    dry_run = bool(work.params.get("dry_run"))
    try:
        with _kept_file(work, file_id) as (path, name, fmt):
            work.progress(0, None, f"importing {name}", flush=True)

            def told(done: int, total: int) -> None:
                work.progress(done, total, f"{done} of {total} rows")

            with unit_of_work(work.factory) as session:
                if kind is ImportKind.REGISTRANTS:
                    report = import_registrants(
                        session,
                        actor,
                        path,
                        fmt=fmt,
                        dry_run=dry_run,
                        file_name=name,
                        progress=told,
                    )
                else:
                    cycle = session.get(Cycle, work.uuid("cycle_id"))
                    if cycle is None:
                        raise NotFound(
                            _("no cycle {cycle_id}").format(cycle_id=work.params.get("cycle_id"))
                        )
                    report = import_entitlements(
                        session,
                        actor,
                        cycle,
                        path,
                        fmt=fmt,
                        dry_run=dry_run,
                        progress=told,
                        file_name=name,
                    )
                discard_file(session, file_id)
    except Exception as error:
        if not is_database_lost(error):
            with unit_of_work(work.factory) as session:
                discard_file(session, file_id)
        raise
    work.progress(report.rows, report.rows, report.summary())
    return import_result(report)


@contextmanager
def _kept_file(work: Work, file_id: uuid.UUID) -> Iterator[tuple[Path, str, Any]]:
    """The kept file's bytes in a private temporary file, removed afterwards."""
    with unit_of_work(work.factory) as session:
        stored = session.get(ImportFile, file_id)
        if stored is None:
            raise NotFound(_("the uploaded file is no longer kept (was it imported already?)"))
        name, fmt, content = stored.file_name, stored.format, stored.content
    descriptor, raw_path = tempfile.mkstemp(prefix="g2p-import-", suffix=f".{fmt}")
    path = Path(raw_path)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(content)
        del content
        yield path, name, fmt
    finally:
        path.unlink(missing_ok=True)


def import_result(report: ImportReport) -> dict[str, Any]:
    """An import report as a job's result: counts, and the first ERRORS_LISTED problems."""
    return {
        "file_name": report.file_name,
        "dry_run": report.dry_run,
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "rejected": report.rejected,
        "errors_total": len(report.errors),
        "errors": [
            {"row": e.row, "field": e.field, "reason": e.reason}
            for e in report.errors[:ERRORS_LISTED]
        ],
        "message": report.summary(),
    }
