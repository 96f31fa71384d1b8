"""``GET /api/v1/exports/...``: the file as an attachment, with the list's filters applied; bad
input is a clear error answer; no temporary file outlives the request."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee.exports.formats import ExportFormat
from g2p_payment_phee.users.models import User
from tests.integration.web.api.conftest import Api
from tests.integration.web.api.world import World, build_world


@pytest.fixture
def world(session: Session, admin: User, approver: User) -> World:
    return build_world(session, admin, approver)


@pytest.fixture(autouse=True)
def private_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the exports' temporary folders go, to see that none is left behind."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def test_payments_as_csv(api: Api, world: World, private_temp: Path) -> None:
    answer = api.get(f"/api/v1/exports/payments?cycle_id={world.cycle}", "viewer")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == ExportFormat.CSV.media_type
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="payments-')
    assert disposition.endswith('.csv"')
    assert answer.headers["x-export-rows"] == "3"
    assert int(answer.headers["content-length"]) == len(answer.content)
    rows = _rows(answer.content)
    assert len(rows) == 3
    assert world.payment in {row["request_id"] for row in rows}
    assert list(private_temp.iterdir()) == []


def test_registrants_as_xlsx_with_a_filter(api: Api, world: World) -> None:
    answer = api.get("/api/v1/exports/registrants?format=xlsx&q=B000001")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == ExportFormat.XLSX.media_type
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert [cell.value for cell in sheet["A"]] == ["reference", "B000001"]
    assert sheet.freeze_panes == "A2"


def test_entitlements_and_the_audit_log(api: Api, world: World) -> None:
    answer = api.get(f"/api/v1/exports/entitlements?cycle_id={world.draft_cycle}&state=draft")
    assert answer.status_code == 200, answer.text
    assert {row["state"] for row in _rows(answer.content)} == {"draft"}
    answer = api.get("/api/v1/exports/audit?action=export.written&actor=admin")
    assert answer.status_code == 200, answer.text
    (event,) = _rows(answer.content)  # the entitlements export: each export is audited
    assert '"kind": "entitlements"' in event["data"]


def test_nothing_matching_is_the_header_only(api: Api, world: World) -> None:
    answer = api.get(f"/api/v1/exports/payments?cycle_id={world.cycle}&status=failed")
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-export-rows"] == "0"
    assert answer.content.startswith(b"request_id,")
    assert answer.content.count(b"\n") == 1  # the header, nothing else


def test_bad_input_is_refused_clearly(api: Api, world: World, private_temp: Path) -> None:
    answer = api.get("/api/v1/exports/registrants?format=pdf")
    assert answer.status_code == 422
    assert "format" in answer.text
    assert "'csv' or 'xlsx'" in answer.text
    assert api.get("/api/v1/exports/people").status_code == 404
    unknown = "00000000-0000-4000-8000-000000000000"
    answer = api.get(f"/api/v1/exports/entitlements?cycle_id={unknown}")
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == f"no cycle {unknown}"
    assert api.get("/api/v1/exports/entitlements").status_code == 422  # which cycle?
    assert list(private_temp.iterdir()) == []
