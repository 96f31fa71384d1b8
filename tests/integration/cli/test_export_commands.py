"""``g2p-phee export KIND``: the file its filters select, readable by its owner only; nothing
matching gives the header and says so; an unknown kind or format writes nothing."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee.users.models import User
from tests.integration.cli import test_paying_commands as paying
from tests.integration.cli.test_paying_commands import Run
from tests.integration.web.pages.builders import PaidCycle, prepared_cycle

cli = paying.run  # ``g2p-phee --as admin ARGS``


@pytest.fixture
def paid(session: Session, admin: User, approver: User) -> PaidCycle:
    built = prepared_cycle(session, admin, approver, size=3)
    session.commit()
    return built


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_each_kind_with_its_filters(paid: PaidCycle, cli: Run, out: Path) -> None:
    people = out / "people.xlsx"
    said = cli("export", "registrants", "--output", str(people))
    assert f"wrote 3 rows to {people} (registrants, xlsx)" in said
    assert stat.S_IMODE(people.stat().st_mode) == 0o600
    sheet = openpyxl.load_workbook(people).active
    assert [sheet.cell(row, 1).value for row in range(1, 5)] == [
        "reference", "B000000", "B000001", "B000002"
    ]  # fmt: skip

    one = out / "one.csv"
    cli("export", "registrants", "-q", "B000001", "-o", str(one))
    assert [row["reference"] for row in _rows(one)] == ["B000001"]

    approved = out / "approved.csv"
    said = cli(
        "export", "entitlements", paid.cycle.name, "--state", "approved", "-o", str(approved)
    )
    assert "wrote 3 rows" in said
    assert {row["state"] for row in _rows(approved)} == {"approved"}

    batch = paid.batches[0]
    listed = out / "batch.txt"  # any name, with --format
    cli("export", "payments", "--batch", batch.name, "--format", "csv", "-o", str(listed))
    assert [row["batch_row"] for row in _rows(listed)] == ["0", "1"]

    log = out / "audit.csv"
    cli("export", "audit", "--action", "export.written", "--user", "admin", "-o", str(log))
    written = _rows(log)
    assert len(written) == 4  # the four exports before this one
    assert '"kind": "registrants"' in written[-1]["data"]  # newest first: the first is last


def test_nothing_matching_writes_the_header_and_says_so(
    paid: PaidCycle, cli: Run, out: Path
) -> None:
    target = out / "failed.csv"
    args = ["--cycle", paid.cycle.name, "--status", "failed", "-o", str(target)]
    said = cli("export", "payments", *args)
    assert f"0 rows match the filters: wrote {target} (payments, csv), its header only" in said
    assert target.read_text(encoding="utf-8").count("\n") == 1
    assert target.read_text(encoding="utf-8").startswith("request_id,")


def test_bad_input_writes_nothing(paid: PaidCycle, cli: Run, out: Path) -> None:
    assert "'pdf' is not one of" in cli(
        "export", "registrants", "--format", "pdf", "-o", str(out / "x.pdf"), code=2
    )
    assert "No such command 'people'" in cli("export", "people", "-o", str(out / "x.csv"), code=2)
    said = cli("export", "registrants", "-o", str(out / "people.txt"), code=6)
    assert "people.txt ends in neither .csv nor .xlsx: say --format csv or --format xlsx" in said
    assert "'sent later' is not one of" in cli(
        "export", "payments", "--state", "sent later", "-o", str(out / "x.csv"), code=2
    )
    said = cli("export", "entitlements", "no-such-cycle", "-o", str(out / "x.csv"), code=4)
    assert "no-such-cycle" in said
    said = cli("export", "audit", "-o", str(out / "missing" / "audit.csv"), code=6)
    assert "its folder does not exist" in said
    assert list(out.iterdir()) == []
