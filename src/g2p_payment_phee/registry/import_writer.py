"""Writing accepted import rows: Core executemany inserts, updates and deletes, per chunk.

New registrants are inserted; existing ones are updated with the fields their row gives, and the
collections their row gives (phones, IDs, bank accounts, group) are replaced.  A phone number that
was disabled and is listed again stays disabled: re-importing a file must not quietly re-enable a
number someone switched off.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.ids import new_id
from g2p_payment_phee.registry.import_rows import RegistrantRecord
from g2p_payment_phee.registry.models import (
    BankAccount,
    GroupMembership,
    IdStatus,
    Phone,
    Registrant,
    RegistrantId,
    RegistrantKind,
)

REGISTRANTS: Table = Registrant.__table__  # type: ignore[assignment]
IDS: Table = RegistrantId.__table__  # type: ignore[assignment]
PHONES: Table = Phone.__table__  # type: ignore[assignment]
ACCOUNTS: Table = BankAccount.__table__  # type: ignore[assignment]
MEMBERSHIPS: Table = GroupMembership.__table__  # type: ignore[assignment]

REGISTRANT_FIELDS = (
    "name",
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "address",
    "email",
)


@dataclass(slots=True)
class Accepted:
    """A row that passed every check, with its registrant id (new or existing)."""

    record: RegistrantRecord
    registrant_id: uuid.UUID
    is_new: bool
    kind: RegistrantKind
    group_id: uuid.UUID | None = None
    bank_ids: list[uuid.UUID | None] = field(default_factory=list)


def write_accepted(session: Session, accepted: list[Accepted]) -> None:
    """Write one chunk of accepted rows (banks they name must already be written)."""
    now = utcnow()
    new = [item for item in accepted if item.is_new]
    old = [item for item in accepted if not item.is_new]
    if new:
        session.execute(insert(REGISTRANTS), [_registrant_row(item, now) for item in new])
    _update_registrants(session, old, now)
    disabled = _delete_replaced(session, old)
    for table, rows in (
        (IDS, _id_rows(accepted, now)),
        (PHONES, _phone_rows(accepted, now, disabled)),
        (ACCOUNTS, _account_rows(accepted, now)),
        (MEMBERSHIPS, _membership_rows(accepted, now)),
    ):
        if rows:
            session.execute(insert(table), rows)


def _registrant_row(item: Accepted, now: datetime) -> dict[str, Any]:
    fields = item.record.fields
    row = {name: fields.get(name) for name in REGISTRANT_FIELDS}
    row.update(
        id=item.registrant_id,
        created_at=now,
        updated_at=now,
        reference=item.record.reference,
        kind=item.kind,
        active=True,
    )
    return row


def _update_registrants(session: Session, old: list[Accepted], now: datetime) -> None:
    """One executemany UPDATE per set of columns given (a CSV file has one set)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for item in old:
        fields = item.record.fields
        columns = tuple(sorted(fields))
        values = {f"b_{name}": fields[name] for name in columns}
        by_columns[columns].append({"b_id": item.registrant_id, "b_updated_at": now, **values})
    for columns, rows in by_columns.items():
        assignments: dict[str, Any] = {
            name: bindparam(f"b_{name}") for name in (*columns, "updated_at")
        }
        query = update(REGISTRANTS).where(REGISTRANTS.c.id == bindparam("b_id"))
        session.execute(query.values(assignments), rows)


def _delete_replaced(
    session: Session, old: list[Accepted]
) -> dict[tuple[uuid.UUID, str], datetime]:
    """Delete the collections the rows replace; the disabled phones among them are returned."""
    phones = [i.registrant_id for i in old if i.record.phones is not None]
    disabled = _disabled_phones(session, phones)
    targets = (
        (PHONES.c.registrant_id, phones),
        (IDS.c.registrant_id, [i.registrant_id for i in old if i.record.ids is not None]),
        (ACCOUNTS.c.registrant_id, [i.registrant_id for i in old if i.record.accounts is not None]),
        (MEMBERSHIPS.c.member_id, [i.registrant_id for i in old if i.record.has_group]),
    )
    for column, registrant_ids in targets:
        if registrant_ids:
            session.execute(delete(column.table).where(column.in_(registrant_ids)))
    return disabled


def _disabled_phones(
    session: Session, registrant_ids: list[uuid.UUID]
) -> dict[tuple[uuid.UUID, str], datetime]:
    if not registrant_ids:
        return {}
    query = select(PHONES.c.registrant_id, PHONES.c.number, PHONES.c.disabled_at).where(
        PHONES.c.registrant_id.in_(registrant_ids), PHONES.c.disabled_at.is_not(None)
    )
    return {(rid, number): at for rid, number, at in session.execute(query)}


def _id_rows(accepted: list[Accepted], now: datetime) -> list[dict[str, Any]]:
    valid = IdStatus.VALID
    return [
        {
            "id": new_id(),
            "created_at": now,
            "registrant_id": item.registrant_id,
            "id_type_id": id_type_id,
            "value": value,
            "expiry_date": expiry,
            "status": valid,
        }
        for item in accepted
        for id_type_id, value, expiry in item.record.ids or ()
    ]


def _phone_rows(
    accepted: list[Accepted], now: datetime, disabled: dict[tuple[uuid.UUID, str], datetime]
) -> list[dict[str, Any]]:
    return [
        {
            "id": new_id(),
            "created_at": now,
            "registrant_id": item.registrant_id,
            "number": number,
            "sequence": sequence,
            "disabled_at": disabled.get((item.registrant_id, number)),
        }
        for item in accepted
        for sequence, number in enumerate(item.record.phones or ())
    ]


def _account_rows(accepted: list[Accepted], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "id": new_id(),
            "created_at": now,
            "registrant_id": item.registrant_id,
            "bank_id": bank_id,
            "account_number": account.account_number,
            "iban": account.iban,
            "sequence": sequence,
            "active": True,
        }
        for item in accepted
        for sequence, (account, bank_id) in enumerate(
            zip(item.record.accounts or (), item.bank_ids, strict=True)
        )
    ]


def _membership_rows(accepted: list[Accepted], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "id": new_id(),
            "created_at": now,
            "group_id": item.group_id,
            "member_id": item.registrant_id,
            "relationship_to_head": None,
        }
        for item in accepted
        if item.group_id is not None
    ]
