"""The export use case: one list, filtered as on its page, written to a file in one step.

The file is written under a temporary name in the target's folder (readable by its owner
only, 0600) and renamed onto the target once complete, so a reader never sees half a file and
an error leaves neither the target nor the temporary file behind.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.exports.formats import ExportFormat, write_table
from g2p_payment_phee.exports.kinds import ExportKind, Filters, Table, table_for
from g2p_payment_phee.i18n import _
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize


@dataclass(frozen=True)
class ExportResult:
    """What was written: where, how many rows (the header not counted), which kind, format."""

    path: Path
    rows: int
    kind: ExportKind
    fmt: ExportFormat


def export(
    session: Session, actor: User, filters: Filters, fmt: ExportFormat, target: Path
) -> ExportResult:
    """Write the list ``filters`` select to ``target`` as ``fmt``, replacing any file there.

    Every role may export: each of these lists is open to every signed-in user on its page
    (VIEW), and an export shows nothing the pages do not. Registrant exports carry personal
    data, so each export is audited (``export.written``: kind, format, filters, rows) with the
    caller's transaction. Filters that match nothing give a file with its header only."""
    authorize(actor, Permission.VIEW)
    if not target.parent.is_dir():
        raise ValidationFailed(
            _("cannot write {target}: its folder does not exist").format(target=target),
            [FieldError("output", _("no folder {parent}").format(parent=target.parent))],
        )
    table = table_for(session, filters)
    rows = _write_then_rename(table, fmt, target)
    audit.record(
        session,
        actor,
        AuditAction.EXPORT_WRITTEN,
        None,
        {
            "kind": table.kind,
            "format": fmt,
            "filters": {k: v for k, v in dataclasses.asdict(filters).items() if v is not None},
            "rows": rows,
        },
    )
    return ExportResult(target, rows, table.kind, fmt)


def _write_then_rename(table: Table, fmt: ExportFormat, target: Path) -> int:
    # mkstemp creates the file 0600 in the target's folder, so the rename is atomic
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            rows = write_table(handle, fmt, table.columns, table.rows)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return rows
