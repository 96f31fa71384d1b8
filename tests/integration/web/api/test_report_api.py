"""``GET /cycles/{id}/report``: the report as a download (XLSX by default, or CSV) whose
temporary file is gone once answered; an unknown format or cycle is a clear error."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee.users.models import User
from tests.integration.payments.reconciliation_world import every_outcome_cycle
from tests.integration.web.api.conftest import Api


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder the downloads are written in, to see that nothing stays."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_the_report_downloads_and_leaves_nothing_behind(
    api: Api, session: Session, admin: User, approver: User, scratch: Path
) -> None:
    cycle = every_outcome_cycle(session, admin, approver)
    session.commit()
    answer = api.get(f"/api/v1/cycles/{cycle.id}/report", "viewer")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert answer.headers["x-report-rows"] == "9"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="reconciliation-{cycle.id}.xlsx"'
    )
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert book["Payments"].max_row == 10
    answer = api.get(f"/api/v1/cycles/{cycle.id}/report?format=csv", "viewer")
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.text.splitlines()[0].startswith("registrant reference,registrant name,")
    assert len(answer.text.splitlines()) == 10
    assert list(scratch.iterdir()) == []


def test_an_unknown_format_or_cycle_is_refused(
    api: Api, session: Session, admin: User, approver: User
) -> None:
    cycle = every_outcome_cycle(session, admin, approver)
    session.commit()
    answer = api.get(f"/api/v1/cycles/{cycle.id}/report?format=pdf", "viewer")
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"][0]["field"] == "format"
    unknown = "00000000-0000-4000-8000-000000000000"
    assert api.get(f"/api/v1/cycles/{unknown}/report", "viewer").status_code == 404
