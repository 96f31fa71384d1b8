"""Import a cycle's entitlements with their amounts from CSV or JSON.

Columns: ``registrant_reference`` and ``amount`` (required); ``currency`` (must be the
program's), ``transfer_fee``, ``valid_from``, ``valid_until`` (ISO dates), ``code`` (optional).
Every bad row is reported with its number, field and reason; good rows land together (the entry
point commits once); a row for a registrant who already has an entitlement in the cycle updates it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from g2p_payment_phee import audit
from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.imports import Format, ImportReport, guess_format, iter_rows, read_source
from g2p_payment_phee.money import check_precision, parse_amount
from g2p_payment_phee.programs.models import (
    Cycle,
    Entitlement,
    MembershipState,
    ProgramMembership,
)
from g2p_payment_phee.programs.service import insert_entitlements, require_draft
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.registry.models import Registrant
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

REQUIRED = ("registrant_reference", "amount")
OPTIONAL = ("currency", "transfer_fee", "valid_from", "valid_until", "code")
LOOKUP_CHUNK = 2000


@dataclass(frozen=True)
class _Row:
    number: int
    reference: str
    values: dict[str, Any]


def import_entitlements(
    session: Session,
    actor: User,
    cycle: Cycle,
    source: Path | bytes,
    *,
    fmt: Format | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    file_name: str | None = None,
) -> ImportReport:
    """Validate every row, then insert the new entitlements and update the existing ones;
    ``progress(done, total)`` is told the rows validated, then written; ``file_name`` names
    the file in messages (an upload's own name rather than its temporary file's)."""
    authorize(actor, Permission.MANAGE_PROGRAMS)
    require_draft(cycle)
    data, name = read_source(source)
    name = file_name or name
    report = ImportReport(dry_run=dry_run, file_name=name)
    rows = _first_pass(data, name, guess_format(name, fmt), report)
    enrolled, existing = _lookups(session, cycle, [r.reference for r in rows])
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for row in rows:
        values = _validate(row, cycle, enrolled, report)
        if values is None:
            continue
        registrant_id = enrolled[row.reference]
        if registrant_id in existing:
            changed.append({"id": existing[registrant_id], **values})
        else:
            new.append({"registrant_id": registrant_id, "cycle_id": cycle.id, **values})
    report.created, report.updated = len(new), len(changed)
    if progress is not None:
        progress(0, report.rows)
    if not dry_run and (new or changed):
        _check_codes(session, new, changed)
        insert_entitlements(session, new)
        for start in range(0, len(changed), LOOKUP_CHUNK):
            session.execute(update(Entitlement), changed[start : start + LOOKUP_CHUNK])
    if progress is not None:
        progress(report.rows, report.rows)
    audit.record(
        session,
        actor,
        AuditAction.ENTITLEMENTS_IMPORTED,
        cycle,
        {
            "file": name,
            "dry_run": dry_run,
            "created": report.created,
            "updated": report.updated,
            "rejected": report.rejected,
        },
    )
    return report


def _first_pass(data: bytes, name: str, fmt: Format, report: ImportReport) -> list[_Row]:
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    for number, values in iter_rows(data, name, fmt, required=REQUIRED, optional=OPTIONAL):
        report.rows += 1
        reference = values.get("registrant_reference")
        if not reference:
            report.reject(number, "registrant_reference", "is required")
            continue
        reference = str(reference)
        if reference in seen:
            report.reject(
                number,
                "registrant_reference",
                _("{reference!r} already on row {seen}").format(
                    reference=reference, seen=seen[reference]
                ),
            )
            continue
        seen[reference] = number
        rows.append(_Row(number, reference, values))
    return rows


def _lookups(
    session: Session, cycle: Cycle, references: list[str]
) -> tuple[dict[str, uuid.UUID], dict[uuid.UUID, uuid.UUID]]:
    """Enrolled registrant id per reference, and existing entitlement id per registrant."""
    enrolled: dict[str, uuid.UUID] = {}
    for start in range(0, len(references), LOOKUP_CHUNK):
        chunk = references[start : start + LOOKUP_CHUNK]
        query = (
            select(Registrant.reference, Registrant.id)
            .join(ProgramMembership, ProgramMembership.registrant_id == Registrant.id)
            .where(
                Registrant.reference.in_(chunk),
                ProgramMembership.program_id == cycle.program_id,
                ProgramMembership.state == MembershipState.ENROLLED,
            )
        )
        enrolled.update(session.execute(query).tuples().all())
    existing = dict(
        session.execute(
            select(Entitlement.registrant_id, Entitlement.id).where(
                Entitlement.cycle_id == cycle.id
            )
        )
        .tuples()
        .all()
    )
    return enrolled, existing


def _validate(
    row: _Row, cycle: Cycle, enrolled: dict[str, uuid.UUID], report: ImportReport
) -> dict[str, Any] | None:
    currency = cycle.program.currency
    problems: list[tuple[str, str]] = []
    if row.reference not in enrolled:
        problems.append(
            (
                "registrant_reference",
                _("{reference!r} is not enrolled in the program").format(reference=row.reference),
            )
        )
    out: dict[str, Any] = {"currency": currency, "state": EntitlementState.DRAFT}
    given_currency = row.values.get("currency")
    if given_currency and str(given_currency).strip().upper() != currency:
        problems.append(
            (
                "currency",
                _("{given_currency} is not the program's currency {currency}").format(
                    given_currency=given_currency, currency=currency
                ),
            )
        )
    for column, key, allow_zero in (
        ("amount", "initial_amount", False),
        ("transfer_fee", "transfer_fee", True),
    ):
        raw = row.values.get(column)
        if raw is None:
            if column == "amount":
                problems.append((column, "is required"))
            else:
                out[key] = Decimal(0)
            continue
        try:
            amount = parse_amount(raw, allow_zero=allow_zero)
            check_precision(amount, currency)
            out[key] = amount
        except ValidationFailed as error:
            problems.append((column, error.message))
    for column in ("valid_from", "valid_until"):
        raw = row.values.get(column)
        try:
            out[column] = date.fromisoformat(str(raw)) if raw else None
        except ValueError:
            problems.append((column, f"{raw!r} is not a date (YYYY-MM-DD)"))
    if out.get("valid_from") and out.get("valid_until") and out["valid_until"] < out["valid_from"]:
        problems.append(("valid_until", "is before valid_from"))
    if row.values.get("code"):
        out["code"] = str(row.values["code"])
    for field_name, reason in problems:
        report.reject(row.number, field_name, reason)
    return None if problems else out


def _check_codes(
    session: Session, new: list[dict[str, Any]], changed: list[dict[str, Any]]
) -> None:
    codes = [r["code"] for r in (*new, *changed) if "code" in r]
    if not codes:
        return
    taken = set(session.scalars(select(Entitlement.code).where(Entitlement.code.in_(codes))))
    mine = {r["code"] for r in changed if "code" in r}
    clash = sorted(taken - mine) + sorted({c for c in codes if codes.count(c) > 1})
    if clash:
        raise ValidationFailed(
            _("entitlement code(s) already used: {clash}").format(clash=", ".join(clash[:10]))
        )
