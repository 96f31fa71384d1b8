"""The kinds of import a job can run, and the checked parameters of such a job."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from g2p_payment_phee.errors import FieldError, NotFound, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.import_jobs.models import ImportFile
from g2p_payment_phee.programs.models import Cycle
from g2p_payment_phee.users.permissions import Permission


class ImportKind(StrEnum):
    """What a file imports; each is a job kind ``import_<kind>``."""

    REGISTRANTS = "registrants"
    ENTITLEMENTS = "entitlements"

    @property
    def job_kind(self) -> str:
        """The job kind that runs this import."""
        return f"import_{self.value}"


PERMISSIONS = {
    ImportKind.REGISTRANTS: Permission.MANAGE_REGISTRY,
    ImportKind.ENTITLEMENTS: Permission.MANAGE_PROGRAMS,
}


def import_params(kind: ImportKind, session: Session, params: dict[str, Any]) -> dict[str, Any]:
    """The job's parameters, checked: the file exists and is of this kind (and the cycle)."""
    try:
        file_id = uuid.UUID(str(params.get("file_id")))
    except ValueError:
        raise ValidationFailed(
            _("invalid job parameters: file_id"), [FieldError("file_id", _("not a valid id"))]
        ) from None
    stored = session.get(ImportFile, file_id)
    if stored is None or stored.kind != kind.value:
        raise NotFound(
            _("no uploaded {kind} file {file_id}").format(kind=kind.value, file_id=file_id)
        )
    clean: dict[str, Any] = {"file_id": str(file_id), "dry_run": bool(params.get("dry_run"))}
    if kind is ImportKind.ENTITLEMENTS:
        cycle_id = params.get("cycle_id")
        try:
            cycle = session.get(Cycle, uuid.UUID(str(cycle_id)))
        except ValueError:
            cycle = None
        if cycle is None:
            raise NotFound(_("no cycle {cycle_id}").format(cycle_id=cycle_id))
        clean["cycle_id"] = str(cycle.id)
    return clean
