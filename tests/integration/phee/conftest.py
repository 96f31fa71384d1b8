"""A program paid through PHEE, its manager pointed at the in-process emulator over loopback.

The emulator runs once per test session and is reset to its defaults before every test.
``test_client_emulator.py`` keeps its own module-level emulator and fixtures (which take
precedence over these in that module).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.emulator import EmulatorConfig, EmulatorServer
from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.config_service import configure_manager, load_manager
from g2p_payment_phee.payments.models import Payment, PaymentBatch
from g2p_payment_phee.phee.client import PheeClient
from g2p_payment_phee.phee.manager import PheeManager
from g2p_payment_phee.phee.retry import RetryPolicy
from g2p_payment_phee.programs.models import Cycle, ManagerKind, Program
from g2p_payment_phee.users.models import User
from tests import factories

SEED = 11
PASSWORD = "password"
AUTHORIZATION = "Basic Y2xpZW50Og=="


@pytest.fixture(scope="session")
def _emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=SEED)) as server:
        yield server


@pytest.fixture
def hub(_emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    """The emulator with its default configuration, no batches, no faults, its clock at now."""
    defaults = EmulatorConfig(seed=SEED)
    _emulator.call(lambda state: state.reconfigure(defaults))
    _emulator.reset()
    yield _emulator
    _emulator.release_hangs()
    _emulator.settle_callbacks()


def hub_settings(hub: EmulatorServer) -> dict[str, Any]:
    """PHEE manager settings that reach the emulator (phone payees, tenant gorilla)."""
    base = hub.base_url
    return {
        "tenant_id": "gorilla",
        "payee_id_type": "phone",
        "username": "mifos",
        "auth_endpoint_url": f"{base}/oauth/token",
        "payment_endpoint_url": f"{base}/batchtransactions",
        "status_endpoint_url": f"{base}/api/v1/batch",
        "details_endpoint_url": f"{base}/api/v1/batch/detail",
        "batch_request_timeout": 2,
    }


@dataclass
class PheeProgram:
    """A program whose PHEE manager talks to the emulator, and the handles to drive it."""

    session: Session
    factory: sessionmaker[Session]
    admin: User
    approver: User
    program: Program
    hub: EmulatorServer

    def configure(self, secrets: dict[str, str | None] | None = None, **settings: Any) -> None:
        """Change the manager's settings (merged with the current ones) and commit."""
        configure_manager(
            self.session, self.admin, self.program, ManagerKind.PHEE, settings, secrets
        )
        self.session.commit()

    def manager(self) -> PheeManager:
        """The manager as send/sync load it."""
        manager = load_manager(self.session, self.program)
        assert isinstance(manager, PheeManager)
        return manager

    def client(self, **options: Any) -> PheeClient:
        """A client of this manager whose read retries do not wait."""
        manager = self.manager()
        retry = RetryPolicy(attempts=3, sleep=lambda _: None)
        return PheeClient(manager.settings, manager.secrets, retry=retry, **options)

    def prepared_cycle(self, beneficiaries: int, *, amount: str = "100", start: int = 0) -> Cycle:
        """An approved cycle, prepared into batches, committed (send and sync open their own
        transactions)."""
        cycle = factories.approved_cycle(
            self.session,
            self.admin,
            self.approver,
            self.program,
            beneficiaries=beneficiaries,
            amount=amount,
            start=start,
        )
        report = service.prepare_cycle(self.session, self.admin, cycle)
        assert report.created == beneficiaries
        self.session.commit()
        return cycle

    def batches(self, cycle: Cycle) -> list[PaymentBatch]:
        """The cycle's batches in order, read afresh."""
        self.session.expire_all()
        query = select(PaymentBatch).where(PaymentBatch.cycle_id == cycle.id)
        return list(self.session.scalars(query.order_by(PaymentBatch.sequence)))

    def let_quiet_period_pass(self, cycle: Cycle) -> None:
        """As if the quiet period had passed since every upload of the cycle's batches: their
        latest upload starts move back by it (the hub's silence then proves absence)."""
        passed = utcnow() - get_settings().unknown_outcome_quiet
        for batch in self.batches(cycle):
            if batch.last_attempt_at is not None:
                batch.last_attempt_at = min(batch.last_attempt_at, passed)
        self.session.commit()

    def payments(self, batch: PaymentBatch) -> list[Payment]:
        """The batch's payments in file order, read afresh."""
        self.session.expire_all()
        query = select(Payment).where(Payment.batch_id == batch.id)
        return list(self.session.scalars(query.order_by(Payment.batch_row)))


@pytest.fixture
def phee_program(
    session: Session,
    session_factory: sessionmaker[Session],
    admin: User,
    approver: User,
    hub: EmulatorServer,
) -> PheeProgram:
    """A program with its PHEE manager configured against the emulator (committed)."""
    program = factories.program(session, admin)
    configure_manager(
        session,
        admin,
        program,
        ManagerKind.PHEE,
        hub_settings(hub),
        {"password": PASSWORD, "authorization": AUTHORIZATION},
    )
    session.commit()
    return PheeProgram(session, session_factory, admin, approver, program, hub)


def assert_nobody_paid_twice(hub: EmulatorServer) -> dict[str, Any]:
    """The emulator's inspection: no request_id was accepted (so paid) more than once."""
    report = hub.inspect()
    assert report["accepted_more_than_once"] == []
    assert report["paid_more_than_once"] == []
    for request_id, seen in report["request_ids"].items():
        assert seen["accepted"] <= 1, request_id
    return report
