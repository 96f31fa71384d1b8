"""Large imports run as jobs with progress; the file is kept only until its job ends (issue 18).

The threshold is lowered in most tests so that small files take the job path; one test sends a
real file over the default 1 MB.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.import_jobs import service as import_service
from g2p_payment_phee.import_jobs.models import ImportFile
from g2p_payment_phee.programs.models import Entitlement
from g2p_payment_phee.registry.models import Registrant
from g2p_payment_phee.users.models import User
from tests.integration.web.api.conftest import Api
from tests.integration.web.api.world import World, build_world

IMPORT = "/api/v1/registrants/import"


def _people(count: int, *, bad_every: int = 0) -> bytes:
    lines = ["reference,name,phone"]
    for n in range(1, count + 1):
        phone = "not-a-phone" if bad_every and n % bad_every == 0 else f"+2547{n:08d}"
        lines.append(f"IMP-{n:06d},Person Number {n} With A Reasonably Long Family Name,{phone}")
    return ("\n".join(lines) + "\n").encode()


def _kept(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(ImportFile)) or 0


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_service, "INLINE_IMPORT_BYTES", 64)


def test_a_file_over_one_megabyte_is_imported_by_a_job(api: Api, session: Session) -> None:
    data = _people(14_000, bad_every=1000)
    assert len(data) > import_service.INLINE_IMPORT_BYTES
    answer = api.post(IMPORT, "program_manager", files={"file": ("people.csv", data)})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["location"] == f"/api/v1/jobs/{job['id']}"
    assert job["kind"] == "import_registrants"
    final = api.wait(job)
    assert final["state"] == "succeeded", final
    result: dict[str, Any] = final["result"]
    assert (result["rows"], result["created"], result["rejected"]) == (14_000, 13_986, 14)
    assert result["errors_total"] == 14
    assert {e["row"] for e in result["errors"]} == {n * 1000 + 1 for n in range(1, 15)}
    assert final["progress_done"] == final["progress_total"] == 14_000
    assert final["message"].startswith("14000 rows: imported 13986")
    session.expire_all()
    count = select(func.count()).select_from(Registrant).where(Registrant.reference.like("IMP-%"))
    assert session.scalar(count) == 13_986
    assert _kept(session) == 0


def test_a_small_file_is_still_answered_at_once(api: Api, session: Session) -> None:
    answer = api.post(IMPORT, "program_manager", files={"file": ("people.csv", _people(3))})
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == 3
    assert _kept(session) == 0


@pytest.mark.usefixtures("small_threshold")
def test_a_dry_run_job_writes_nothing(api: Api, session: Session) -> None:
    answer = api.post(
        IMPORT,
        "program_manager",
        files={"file": ("people.csv", _people(20))},
        params={"dry_run": True},
    )
    assert answer.status_code == 202, answer.text
    final = api.wait(answer.json())
    assert final["state"] == "succeeded"
    assert final["result"]["dry_run"] is True
    assert final["result"]["created"] == 20
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Registrant)) == 0
    assert _kept(session) == 0


@pytest.mark.usefixtures("small_threshold")
def test_an_unreadable_file_fails_its_job_and_writes_nothing(api: Api, session: Session) -> None:
    data = b"reference,name,shoe_size\n" + b"X-1,Someone with a name long enough for the job,42\n"
    answer = api.post(IMPORT, "program_manager", files={"file": ("people.csv", data)})
    assert answer.status_code == 202, answer.text
    final = api.wait(answer.json())
    assert final["state"] == "failed"
    assert "unknown columns: shoe_size" in final["error"]
    session.expire_all()
    assert session.scalar(select(Registrant.id).where(Registrant.reference == "X-1")) is None
    assert _kept(session) == 0


@pytest.mark.usefixtures("small_threshold")
def test_a_viewer_cannot_start_an_import_job_and_nothing_is_kept(
    api: Api, session: Session
) -> None:
    answer = api.post(IMPORT, "viewer", files={"file": ("people.csv", _people(5))})
    assert answer.status_code == 403
    assert _kept(session) == 0


@pytest.mark.usefixtures("small_threshold")
def test_entitlements_of_a_draft_cycle_import_as_a_job(
    api: Api, session: Session, admin: User, approver: User
) -> None:
    world: World = build_world(session, admin, approver)
    data = b"registrant_reference,amount\nB000000,75\nB000001,80\nB000002,85\nNOBODY,10\n"
    path = f"/api/v1/cycles/{world.draft_cycle}/entitlements/import"
    answer = api.post(path, "program_manager", files={"file": ("amounts.csv", data)})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert (job["kind"], job["subject_type"], job["subject_id"]) == (
        "import_entitlements",
        "cycle",
        world.draft_cycle,
    )
    final = api.wait(job)
    assert final["state"] == "succeeded", final
    assert (final["result"]["updated"], final["result"]["rejected"]) == (3, 1)
    assert final["result"]["file_name"] == "amounts.csv"
    (problem,) = final["result"]["errors"]
    assert "NOBODY" in problem["reason"]
    session.expire_all()
    amounts = session.scalars(
        select(Entitlement.initial_amount).where(
            Entitlement.cycle_id == uuid.UUID(world.draft_cycle)
        )
    ).all()
    assert sorted(int(a) for a in amounts) == [75, 80, 85]
    assert _kept(session) == 0


@pytest.mark.usefixtures("small_threshold")
def test_an_entitlement_import_job_is_refused_for_a_cycle_past_draft(
    api: Api, session: Session, admin: User, approver: User
) -> None:
    world = build_world(session, admin, approver)
    data = b"registrant_reference,amount\nB000001,75\n"
    path = f"/api/v1/cycles/{world.cycle}/entitlements/import"
    answer = api.post(path, "program_manager", files={"file": ("amounts.csv", data)})
    assert answer.status_code == 409, answer.text
    assert "draft" in answer.json()["error"]["message"]
    assert _kept(session) == 0


def test_entitlement_import_messages_name_the_uploaded_file(
    api: Api, session: Session, admin: User, approver: User
) -> None:
    world = build_world(session, admin, approver)
    path = f"/api/v1/cycles/{world.draft_cycle}/entitlements/import"
    data = b"registrant_reference,amount,colour\nB000000,75,red\n"
    answer = api.post(path, "program_manager", files={"file": ("amounts.csv", data)})
    assert answer.status_code == 422, answer.text
    message = answer.json()["error"]["message"]
    assert message.startswith("amounts.csv"), message
    assert "g2p-import-" not in message
