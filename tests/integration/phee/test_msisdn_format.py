"""``msisdn_format`` (SPEC 3.1): phones go out as digits by default, ``e164`` keeps the ``+``;
a prepared batch keeps its bytes whatever the setting becomes; managers stored before the
setting existed keep writing ``+E.164`` (migration 0011)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from g2p_payment_phee.db import migrate
from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.config_service import configure_manager, load_manager
from g2p_payment_phee.payments.models import Payment, PaymentBatch, PaymentManagerConfig
from g2p_payment_phee.payments.states import PaymentStatus
from g2p_payment_phee.phee.manager import PheeManager
from g2p_payment_phee.phee.settings import MsisdnFormat
from g2p_payment_phee.programs.models import Cycle, ManagerKind
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.phee.conftest import PheeProgram


def payee_cells(data: bytes) -> list[str]:
    return [line.split(",")[6] for line in data.decode().split("\n")[1:]]


def stored_values(p: PheeProgram, cycle: Cycle) -> list[str]:
    query = select(Payment.payee_id_value).where(Payment.cycle_id == cycle.id)
    return sorted(p.session.scalars(query.order_by(Payment.batch_row)))


def sent_file(p: PheeProgram, batch: PaymentBatch) -> bytes:
    answer = httpx.get(f"{p.hub.base_url}/_emulator/files/{batch.phee_batch_id}/request.csv")
    answer.raise_for_status()
    return answer.content


def send_and_sync(p: PheeProgram, cycle: Cycle) -> None:
    sent = service.send_cycle(p.factory, p.admin, cycle.id)
    assert {r.outcome for r in sent.results} == {"submitted"}
    service.sync_cycle(p.factory, p.admin, cycle.id)


def statuses(p: PheeProgram, cycle: Cycle) -> list[PaymentStatus | None]:
    p.session.expire_all()
    query = select(Payment.status).where(Payment.cycle_id == cycle.id)
    return list(p.session.scalars(query.order_by(Payment.batch_row)))


def test_phones_go_out_as_digits_by_default_and_are_paid(phee_program: PheeProgram) -> None:
    p = phee_program
    assert p.manager().settings.msisdn_format is MsisdnFormat.DIGITS
    cycle = p.prepared_cycle(3)
    [batch] = p.batches(cycle)
    data = service.batch_file(p.session, p.admin, batch).data
    assert payee_cells(data) == ["254700000000", "254700000001", "254700000002"]
    assert stored_values(p, cycle) == ["+254700000000", "+254700000001", "+254700000002"]
    send_and_sync(p, cycle)
    [batch] = p.batches(cycle)
    assert sent_file(p, batch) == data
    assert statuses(p, cycle) == [PaymentStatus.PAID] * 3


def test_e164_keeps_the_plus_which_a_strict_hub_fails_row_by_row(
    phee_program: PheeProgram,
) -> None:
    p = phee_program
    p.configure(msisdn_format="e164")
    cycle = p.prepared_cycle(2)
    [batch] = p.batches(cycle)
    data = service.batch_file(p.session, p.admin, batch).data
    assert payee_cells(data) == ["+254700000000", "+254700000001"]
    send_and_sync(p, cycle)
    assert statuses(p, cycle) == [PaymentStatus.FAILED] * 2
    reasons = p.session.scalars(select(Payment.failure_reason).where(Payment.cycle_id == cycle.id))
    assert all("Invalid payee MSISDN '+2547" in (r or "") for r in reasons)


def test_a_prepared_batch_keeps_its_bytes_when_the_setting_changes(
    phee_program: PheeProgram,
) -> None:
    p = phee_program
    cycle = p.prepared_cycle(2)
    [batch] = p.batches(cycle)
    prepared = service.batch_file(p.session, p.admin, batch).data
    digest = batch.csv_sha256
    assert digest == hashlib.sha256(prepared).hexdigest()

    p.configure(msisdn_format="e164")
    [batch] = p.batches(cycle)
    assert batch.csv_sha256 == digest
    assert service.batch_file(p.session, p.admin, batch).data == prepared
    send_and_sync(p, cycle)
    [batch] = p.batches(cycle)
    assert sent_file(p, batch) == prepared  # what was prepared, byte for byte
    assert batch.csv_sha256 == digest
    assert statuses(p, cycle) == [PaymentStatus.PAID] * 2


def test_a_file_made_at_send_follows_the_setting_of_that_moment(
    phee_program: PheeProgram,
) -> None:
    p = phee_program
    p.configure(make_csv_at_prepare=False, msisdn_format="e164")
    cycle = p.prepared_cycle(2)
    [batch] = p.batches(cycle)
    assert batch.csv_sha256 is None
    p.configure(msisdn_format="digits")
    send_and_sync(p, cycle)
    [batch] = p.batches(cycle)
    data = sent_file(p, batch)
    assert payee_cells(data) == ["254700000000", "254700000001"]
    assert batch.csv_sha256 == hashlib.sha256(data).hexdigest()
    assert stored_values(p, cycle) == ["+254700000000", "+254700000001"]


def test_other_payee_options_are_written_as_they_are(phee_program: PheeProgram) -> None:
    p = phee_program
    p.configure(payee_id_type="email")
    cycle = p.prepared_cycle(1)
    [batch] = p.batches(cycle)
    data = service.batch_file(p.session, p.admin, batch).data
    assert payee_cells(data) == ["person0@example.org"]


@pytest.mark.parametrize("value", ["plus", "E164", "", None])
def test_an_unknown_format_is_refused_and_nothing_changes(
    session: Session, admin: User, value: Any
) -> None:
    program = factories.program(session, admin)
    base = {"tenant_id": "gorilla", "payee_id_type": "phone"}
    configure_manager(session, admin, program, ManagerKind.PHEE, base)
    with pytest.raises(ValidationFailed) as refused:
        configure_manager(session, admin, program, ManagerKind.PHEE, {"msisdn_format": value})
    assert [e.field for e in refused.value.errors] == ["msisdn_format"]
    assert "digits" in refused.value.errors[0].reason
    manager = load_manager(session, program)
    assert isinstance(manager, PheeManager)
    assert manager.settings.msisdn_format is MsisdnFormat.DIGITS


def _alembic(engine: Engine, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", "g2p_payment_phee:migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def test_managers_stored_before_the_setting_keep_writing_e164(
    engine: Engine, session: Session, admin: User
) -> None:
    phee_program = factories.program(session, admin, name="Stored before")
    configure_manager(
        session,
        admin,
        phee_program,
        ManagerKind.PHEE,
        {"tenant_id": "gorilla", "payee_id_type": "phone"},
    )
    other = factories.program(session, admin, name="Paid by hand")
    configure_manager(session, admin, other, ManagerKind.DEFAULT, {"payee_id_type": "phone"})
    session.commit()
    default_settings = session.scalars(
        select(PaymentManagerConfig.settings).where(PaymentManagerConfig.program_id == other.id)
    ).one()
    session.close()

    # only the columns 0010 has: the model has gained more since
    stored = select(PaymentManagerConfig.program_id, PaymentManagerConfig.settings)
    try:
        _alembic(engine, "downgrade", "0010")  # as stored by the code before the setting
        rows = dict(session.execute(stored).tuples().all())
        assert "msisdn_format" not in rows[phee_program.id]
        session.close()
    finally:
        migrate(engine)  # the database the next tests share is at the newest revision again
    rows = dict(session.execute(stored).tuples().all())
    assert rows[phee_program.id]["msisdn_format"] == "e164"
    assert rows[other.id] == default_settings  # another kind of manager: untouched
    manager = load_manager(session, session.merge(phee_program))
    assert isinstance(manager, PheeManager)
    assert manager.settings.msisdn_format is MsisdnFormat.E164
