"""Bulk import of registrants from CSV or JSON (SPEC 2.1; format in ``docs/import.md``).

Every row is validated; good rows are written, bad rows are reported (row, field, reason) and
nothing of them is written.  Everything happens in the caller's transaction: the importer
flushes, never commits, so the good rows land together or not at all.  A file that cannot be read
at all raises ImportRejected before anything is written.

The work is set-based, chunk by chunk: rows are validated in Python, references are looked up
``CHUNK_ROWS`` at a time, and rows are written with Core executemany inserts; no per-row ORM
round trips.  A member whose group comes later in the file waits until the end of the file.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.ids import new_id
from g2p_payment_phee.imports import ImportReport
from g2p_payment_phee.registry.banks import BankDirectory
from g2p_payment_phee.registry.import_reader import (
    FieldLabels,
    Format,
    RawRow,
    guess_format,
    read_rows,
)
from g2p_payment_phee.registry.import_rows import IdTypeInfo, RegistrantRecord, RowValidator
from g2p_payment_phee.registry.import_writer import REGISTRANTS, Accepted, write_accepted
from g2p_payment_phee.registry.models import IdType, RegistrantKind
from g2p_payment_phee.registry.validation import compile_id_regex
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

CHUNK_ROWS = 5000
Progress = Callable[[int, int], None]


def import_registrants(
    session: Session,
    actor: User,
    source: Path | bytes,
    *,
    fmt: Format | None = None,
    dry_run: bool = False,
    file_name: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import registrants with their IDs, phones, email and bank accounts; the report says how.

    ``fmt`` is guessed from the file name (or, for bytes, from the first character) when not
    given.  A reference already in the registry is updated: the fields the file gives replace the
    registrant's, and phones / IDs / bank accounts / group, when the file has them, are replaced.
    ``dry_run`` checks everything (against the database too) and writes nothing at all.
    One audit event records a real import. ``progress(done, total)`` is told the rows read
    after each chunk.
    """
    authorize(actor, Permission.MANAGE_REGISTRY)
    chosen = guess_format(source, fmt)
    name = file_name or (source.name if isinstance(source, Path) else None)
    report = ImportReport(file_name=name, format=chosen, dry_run=dry_run)
    rows = read_rows(source, chosen)
    run = _ImportRun(session, report, _validator(session, chosen), dry_run=dry_run)
    done = 0
    for chunk in _chunks(rows, CHUNK_ROWS):
        run.process(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, rows.total)
    run.finish()
    report.errors.sort(key=lambda error: error.row or 0)
    if not dry_run:
        audit.record(
            session,
            actor,
            AuditAction.REGISTRY_IMPORTED,
            None,
            {
                "file": name,
                "format": chosen,
                "dry_run": dry_run,
                "rows": report.rows,
                "created": report.created,
                "updated": report.updated,
                "rejected": report.rejected,
                "banks_created": run.banks_created,
            },
        )
        session.flush()
    return report


def _validator(session: Session, fmt: Format) -> RowValidator:
    id_types = {
        row.name: IdTypeInfo(
            row.id,
            row.name,
            compile_id_regex(row.validation_regex) if row.validation_regex else None,
            row.enabled,
        )
        for row in session.scalars(select(IdType))
    }
    return RowValidator(
        id_types,
        today=utcnow().date(),
        region=get_settings().default_phone_region,
        labels=FieldLabels(fmt),
    )


def _chunks(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass
class _ImportRun:
    """The state of one import across chunks: references seen, groups known, waiting members."""

    session: Session
    report: ImportReport
    validator: RowValidator
    dry_run: bool
    first_row: dict[str, int] = field(default_factory=dict)
    groups: dict[str, uuid.UUID] = field(default_factory=dict)
    individuals: set[str] = field(default_factory=set)
    waiting: list[Accepted] = field(default_factory=list)
    banks: BankDirectory = field(init=False)
    banks_created: int = 0

    def __post_init__(self) -> None:
        self.banks = BankDirectory.load(self.session)

    def process(self, chunk: list[RawRow]) -> None:
        """Validate, check against the database and write one chunk of rows."""
        self.report.rows += len(chunk)
        records = [r for r in map(self._validate, chunk) if r is not None]
        existing = self._lookup({r.reference for r in records})
        admitted = [a for a in (self._admit(r, existing) for r in records) if a is not None]
        for item in admitted:
            if item.kind is RegistrantKind.GROUP:
                self.groups[item.record.reference] = item.registrant_id
            else:
                self.individuals.add(item.record.reference)
        self._store(self._resolve_groups(admitted))

    def finish(self) -> None:
        """Settle the members whose group was not known when their row was read."""
        ready: list[Accepted] = []
        for item in self.waiting:
            reference = item.record.group_reference
            assert reference is not None
            if reference in self.groups or reference in self.individuals:
                self._join_file_group(item, reference, ready)
            else:
                self._reject_admitted(item, "group_reference", self._missing_group(reference))
        self.waiting = []
        self._store(ready)

    def _validate(self, raw: RawRow) -> RegistrantRecord | None:
        result = self.validator.validate(raw)
        errors = result if isinstance(result, list) else []
        reference = raw.values.get("reference", "").strip()
        if reference:
            first = self.first_row.setdefault(reference, raw.row)
            if first != raw.row:
                reason = _("{reference!r} already appears on row {first} (once per file)").format(
                    reference=reference, first=first
                )
                errors.append(FieldError("reference", reason, raw.row))
        if errors:
            self._reject(errors)
            return None
        assert isinstance(result, RegistrantRecord)
        return result

    def _lookup(self, references: set[str]) -> dict[str, tuple[uuid.UUID, RegistrantKind]]:
        if not references:
            return {}
        query = select(REGISTRANTS.c.reference, REGISTRANTS.c.id, REGISTRANTS.c.kind).where(
            REGISTRANTS.c.reference.in_(references)
        )
        return {ref: (rid, kind) for ref, rid, kind in self.session.execute(query)}

    def _admit(
        self, record: RegistrantRecord, existing: dict[str, tuple[uuid.UUID, RegistrantKind]]
    ) -> Accepted | None:
        errors: list[FieldError] = []
        found = existing.get(record.reference)
        if found is None:
            item = Accepted(record, new_id(), True, record.kind or RegistrantKind.INDIVIDUAL)
            if not record.fields.get("name"):
                errors.append(FieldError("name", _("is required for a new registrant"), record.row))
        else:
            item = Accepted(record, found[0], False, found[1])
            if record.kind is not None and record.kind is not found[1]:
                reason = _("{reference!r} is registered as {found}; kind cannot change").format(
                    reference=record.reference, found=found[1]
                )
                errors.append(FieldError("kind", reason, record.row))
        if item.kind is RegistrantKind.GROUP and record.group_reference is not None:
            errors.append(
                FieldError(
                    "group_reference", _("a group cannot be a member of a group"), record.row
                )
            )
        if not errors:
            errors = self._resolve_banks(item)
        if errors:
            self._reject(errors)
            return None
        return item

    def _resolve_banks(self, item: Accepted) -> list[FieldError]:
        for account in item.record.accounts or []:
            if account.bank is None:
                item.bank_ids.append(None)
                continue
            try:
                bank_id = self.banks.resolve(*account.bank, field_prefix=account.label_prefix)
            except ValidationFailed as error:
                return [FieldError(e.field, e.reason, item.record.row) for e in error.errors]
            item.bank_ids.append(bank_id)
        return []

    def _resolve_groups(self, admitted: list[Accepted]) -> list[Accepted]:
        wanted = {a.record.group_reference for a in admitted if a.record.group_reference}
        in_registry = self._lookup(wanted - self.groups.keys() - self.individuals)
        ready = []
        for item in admitted:
            reference = item.record.group_reference
            if reference is None:
                ready.append(item)
            elif reference in self.groups or reference in self.individuals:
                self._join_file_group(item, reference, ready)
            elif reference in in_registry:
                group_id, kind = in_registry[reference]
                if kind is RegistrantKind.GROUP:
                    item.group_id = group_id
                    ready.append(item)
                else:
                    reason = _("{reference!r} is registered as an individual, not a group").format(
                        reference=reference
                    )
                    self._reject_admitted(item, "group_reference", reason)
            else:
                self.waiting.append(item)
        return ready

    def _join_file_group(self, item: Accepted, reference: str, ready: list[Accepted]) -> None:
        group_id = self.groups.get(reference)
        if group_id is not None:
            item.group_id = group_id
            ready.append(item)
        else:
            row = self.first_row[reference]
            reason = _("{reference!r} is an individual (row {row}), not a group").format(
                reference=reference, row=row
            )
            self._reject_admitted(item, "group_reference", reason)

    def _missing_group(self, reference: str) -> str:
        if reference in self.first_row:
            return _("{reference!r} on row {first_row} was rejected").format(
                reference=reference, first_row=self.first_row[reference]
            )
        return _("no group {reference!r} in this file or in the registry").format(
            reference=reference
        )

    def _store(self, ready: list[Accepted]) -> None:
        for item in ready:
            if item.is_new:
                self.report.created += 1
            else:
                self.report.updated += 1
        if not self.dry_run and ready:
            used = {bank_id for item in ready for bank_id in item.bank_ids if bank_id}
            self.banks_created += self.banks.write_pending(self.session, used)
            write_accepted(self.session, ready)

    def _reject_admitted(self, item: Accepted, field_name: str, reason: str) -> None:
        self.individuals.discard(item.record.reference)
        self._reject([FieldError(field_name, reason, item.record.row)])

    def _reject(self, errors: list[FieldError]) -> None:
        self.report.rejected += 1
        self.report.errors.extend(errors)
