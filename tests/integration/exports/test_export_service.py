"""``exports.service.export`` on both databases: each kind holds what its page's filters select,
every chunk of it; text is neutralised; nothing matching gives the header only; the file
appears whole or not at all; the export is audited."""

from __future__ import annotations

import csv
import stat
import uuid
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditAction, AuditEvent
from g2p_payment_phee.errors import NotFound, PermissionDenied, ValidationFailed
from g2p_payment_phee.exports import formats, kinds
from g2p_payment_phee.exports.formats import ExportFormat
from g2p_payment_phee.exports.kinds import (
    AuditFilters,
    EntitlementFilters,
    PaymentFilters,
    RegistrantFilters,
)
from g2p_payment_phee.exports.service import export
from g2p_payment_phee.payments.models import Payment
from g2p_payment_phee.payments.states import PaymentState
from g2p_payment_phee.programs.models import Entitlement
from g2p_payment_phee.programs.service import reject_entitlement, submit_cycle
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.registry.models import Phone, Registrant, RegistrantKind
from g2p_payment_phee.users.models import Role, User
from tests import factories
from tests.integration.web.pages.builders import prepared_cycle

HOSTILE = ['=HYPERLINK("http://x")', "+254", "-2+3", "@SUM(1)", "\tTab", "\rReturn"]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A folder for the exports alone (the SQLite database sits in ``tmp_path``)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _registry(session: Session) -> None:
    """Two payable individuals (phones), a group, and a person per hostile name."""
    factories.payable_registrant(session, 1).phones.append(
        Phone(number="+254700000999", sequence=1)
    )
    factories.payable_registrant(session, 2)
    factories.registrant(session, "G-1", RegistrantKind.GROUP)
    for number, name in enumerate(HOSTILE):
        factories.registrant(session, f"H{number}").name = name
    session.flush()


def test_registrants_as_csv_with_filters_and_neutralised_names(
    session: Session, viewer: User, out: Path
) -> None:
    _registry(session)
    target = out / "people.csv"
    result = export(session, viewer, RegistrantFilters(), ExportFormat.CSV, target)
    rows = _read_csv(target)
    assert result.rows == len(rows) == 3 + len(HOSTILE)
    assert [row["reference"] for row in rows] == sorted(row["reference"] for row in rows)
    first = rows[0]
    assert first["reference"] == "B000001"
    assert first["phone"] == "'+254700000001;+254700000999"  # starts with +: neutralised
    assert first["email"] == "person1@example.org"
    assert first["kind"] == "individual"
    assert first["active"] == "true"
    names = {row["reference"]: row["name"] for row in rows}
    assert [names[f"H{n}"] for n in range(len(HOSTILE))] == [f"'{name}" for name in HOSTILE]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    groups = export(
        session, viewer, RegistrantFilters(kind=RegistrantKind.GROUP), ExportFormat.CSV, target
    )
    assert groups.rows == 1
    assert [row["reference"] for row in _read_csv(target)] == ["G-1"]
    by_phone = RegistrantFilters(q="+254700000002")
    assert export(session, viewer, by_phone, ExportFormat.CSV, target).rows == 1
    assert _read_csv(target)[0]["reference"] == "B000002"


def test_registrants_as_xlsx(session: Session, viewer: User, out: Path) -> None:
    _registry(session)
    target = out / "people.xlsx"
    result = export(session, viewer, RegistrantFilters(q="H"), ExportFormat.XLSX, target)
    sheet = openpyxl.load_workbook(target).active
    assert result.rows == len(HOSTILE)
    assert sheet["A1"].value == "reference"
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:M{len(HOSTILE) + 1}"
    names = [sheet.cell(row, 3) for row in range(2, len(HOSTILE) + 2)]
    # exact text, never formulas (openpyxl leaves the carriage return in its XML escape)
    assert [cell.value.replace("_x000D_", "\r") for cell in names] == HOSTILE
    assert all(cell.quotePrefix and cell.data_type == "s" for cell in names)
    assert sheet.cell(2, 11).value is True  # active, a boolean
    assert sheet.cell(2, 12).number_format == "yyyy-mm-dd hh:mm:ss"


def test_every_chunk_is_read_in_the_pages_order(
    session: Session, admin: User, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 2 over 7 registrants and the audit log's two-column key, newest first."""
    monkeypatch.setattr(kinds, "CHUNK", 2)
    _registry(session)
    target = out / "all.csv"
    assert export(session, admin, RegistrantFilters(), ExportFormat.CSV, target).rows == 9
    references = [row["reference"] for row in _read_csv(target)]
    assert references == sorted(session.scalars(select(Registrant.reference)))

    session.commit()
    assert export(session, admin, AuditFilters(), ExportFormat.CSV, target).rows >= 1
    events = _read_csv(target)
    expected = session.scalars(
        select(AuditEvent.id).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    ).all()
    assert len(events) == len(expected) - 1  # the export's own event came after it was read
    assert [row["created_at (UTC)"] for row in events] == sorted(
        (row["created_at (UTC)"] for row in events), reverse=True
    )


def test_entitlements_of_a_cycle_by_state(
    session: Session, manager: User, approver: User, viewer: User, out: Path
) -> None:
    program = factories.program(session, manager)
    cycle = factories.cycle_with_entitlements(session, manager, program, beneficiaries=3)
    factories.cycle_with_entitlements(session, manager, program, beneficiaries=2)  # another cycle
    submit_cycle(session, manager, cycle)
    code = session.scalars(select(Entitlement.code).where(Entitlement.cycle_id == cycle.id)).first()
    assert code is not None
    reject_entitlement(session, approver, cycle, code, "duplicate")
    target = out / "entitlements.xlsx"

    every = export(session, viewer, EntitlementFilters(cycle.id), ExportFormat.XLSX, target)
    assert every.rows == 3
    sheet = openpyxl.load_workbook(target).active
    header = [cell.value for cell in sheet[1]]
    assert header[:6] == [
        "code", "registrant_reference", "registrant_name", "amount", "transfer_fee", "currency"
    ]  # fmt: skip
    assert sheet["D2"].value == 100
    assert sheet["D2"].number_format == "#,##0.00"  # KES has 2 decimals

    rejected = EntitlementFilters(cycle.id, EntitlementState.REJECTED)
    target = out / "rejected.csv"
    assert export(session, viewer, rejected, ExportFormat.CSV, target).rows == 1
    (row,) = _read_csv(target)
    assert row["code"] == code
    assert row["state"] == "rejected"
    assert row["amount"] == "100.00"


def test_payments_by_cycle_batch_and_state(
    session: Session, admin: User, approver: User, viewer: User, out: Path
) -> None:
    paid = prepared_cycle(session, admin, approver, size=5)
    target = out / "payments.csv"
    assert (
        export(session, viewer, PaymentFilters(paid.cycle.id), ExportFormat.CSV, target).rows == 5
    )
    rows = _read_csv(target)
    assert {row["state"] for row in rows} == {"issued"}
    assert {row["amount_issued"] for row in rows} == {"100.00"}
    assert {row["cycle"] for row in rows} == {paid.cycle.name}
    assert rows[0]["payee_id_value"].startswith("'+")  # a phone in E.164: text, neutralised

    second = paid.batches[1]
    in_batch = PaymentFilters(batch_id=second.id)
    assert export(session, viewer, in_batch, ExportFormat.CSV, target).rows == 2
    rows = _read_csv(target)
    assert [row["batch_row"] for row in rows] == ["0", "1"]  # the file's order
    assert {row["batch"] for row in rows} == {str(second.sequence)}
    expected = session.scalars(
        select(Payment.id).where(Payment.batch_id == second.id).order_by(Payment.batch_row)
    ).all()
    assert [row["request_id"] for row in rows] == [str(i) for i in expected]

    sent = PaymentFilters(paid.cycle.id, state=PaymentState.SENT)
    result = export(session, viewer, sent, ExportFormat.CSV, target)
    assert result.rows == 0
    assert target.read_text(encoding="utf-8").splitlines()[0].startswith("request_id,cycle,")
    assert len(target.read_text(encoding="utf-8").splitlines()) == 1


def test_the_audit_log_by_action_and_the_export_is_audited(
    session: Session, admin: User, viewer: User, out: Path
) -> None:
    factories.program(session, admin)
    target = out / "audit.csv"
    only = AuditFilters(action=AuditAction.PROGRAM_CREATED)
    assert export(session, viewer, only, ExportFormat.CSV, target).rows == 1
    (row,) = _read_csv(target)
    assert row["user"] == "admin"
    assert row["action"] == "program.created"
    assert row["subject_type"] == "programs"
    assert '"currency": "KES"' in row["data"]

    session.flush()
    recorded = session.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.EXPORT_WRITTEN)
    ).one()
    assert recorded.actor_name == "watcher"
    assert recorded.data == {
        "kind": "audit",
        "format": "csv",
        "filters": {"action": "program.created"},
        "rows": 1,
    }


def test_an_error_midway_leaves_neither_file_nor_temporary_file(
    session: Session, admin: User, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _registry(session)
    monkeypatch.setattr(formats, "XLSX_MAX_ROWS", 3)
    target = out / "people.xlsx"
    with pytest.raises(ValidationFailed, match="at most 3 rows"):
        export(session, admin, RegistrantFilters(), ExportFormat.XLSX, target)
    assert list(out.iterdir()) == []

    target.write_bytes(b"the previous export")
    with pytest.raises(ValidationFailed):
        export(session, admin, RegistrantFilters(), ExportFormat.XLSX, target)
    assert list(out.iterdir()) == [target]
    assert target.read_bytes() == b"the previous export"  # replaced only by a whole file


def test_refusals_write_nothing(session: Session, admin: User, out: Path) -> None:
    retired = factories.user(session, "retired", Role.VIEWER, active=False)
    target = out / "people.csv"
    with pytest.raises(PermissionDenied, match="disabled"):
        export(session, retired, RegistrantFilters(), ExportFormat.CSV, target)
    with pytest.raises(NotFound, match="no cycle"):
        export(session, admin, EntitlementFilters(uuid.uuid4()), ExportFormat.CSV, target)
    with pytest.raises(ValidationFailed, match="folder does not exist"):
        export(session, admin, RegistrantFilters(), ExportFormat.CSV, out / "no" / "x.csv")
    assert list(out.iterdir()) == []
    assert (
        session.scalars(
            select(AuditEvent).where(AuditEvent.action == AuditAction.EXPORT_WRITTEN)
        ).all()
        == []
    )


def test_amounts_are_numbers_at_their_currencys_precision(
    session: Session, admin: User, approver: User, out: Path
) -> None:
    paid = prepared_cycle(session, admin, approver, size=1)
    target = out / "payments.xlsx"
    export(session, admin, PaymentFilters(paid.cycle.id), ExportFormat.XLSX, target)
    sheet = openpyxl.load_workbook(target).active
    header = [cell.value for cell in sheet[1]]
    amount = sheet.cell(2, header.index("amount_issued") + 1)
    assert amount.value == 100
    assert amount.number_format == "#,##0.00"
    assert Decimal(str(sheet.cell(2, header.index("payment_fee") + 1).value)) == 0
