"""Send and sync tell their progress after each batch, in one call over a whole cycle (the
command line's bars and the jobs' progress use it); the manual manager tells it once, at the
end of its single transaction."""

from __future__ import annotations

from g2p_payment_phee.payments import service
from g2p_payment_phee.payments.config_service import configure_manager
from g2p_payment_phee.payments.reports import SendOutcome
from g2p_payment_phee.programs.models import ManagerKind
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.phee.conftest import PheeProgram


def test_send_and_sync_tell_their_progress_after_each_batch(phee_program: PheeProgram) -> None:
    p = phee_program
    p.configure(max_batch_size=2)
    cycle = p.prepared_cycle(5)
    sent: list[tuple[int, int]] = []
    report = service.send_cycle(p.factory, p.admin, cycle.id, progress=lambda *a: sent.append(a))
    assert report.count(SendOutcome.SUBMITTED) == 3
    assert sent == [(1, 3), (2, 3), (3, 3)]
    p.hub.complete_all()
    synced: list[tuple[int, int]] = []
    synced_report = service.sync_cycle(
        p.factory, p.admin, cycle.id, progress=lambda *a: synced.append(a)
    )
    assert synced_report.reconciled == 5
    assert synced == [(1, 3), (2, 3), (3, 3)]


def test_the_manual_manager_tells_its_progress_once(
    phee_program: PheeProgram, admin: User, approver: User
) -> None:
    session = phee_program.session
    program = factories.program(session, admin, name="Manual")
    configure_manager(
        session, admin, program, ManagerKind.DEFAULT, {"payee_id_type": "bank_acc_no"}
    )
    cycle = factories.approved_cycle(session, admin, approver, program, beneficiaries=3)
    service.prepare_cycle(session, admin, cycle)
    session.commit()
    told: list[tuple[int, int]] = []
    report = service.send_cycle(
        phee_program.factory, admin, cycle.id, progress=lambda *a: told.append(a)
    )
    assert report.count(SendOutcome.SUBMITTED) == 1
    assert told == [(1, 1)]  # after the transaction that handed the batch over
    told.clear()
    service.sync_cycle(phee_program.factory, admin, cycle.id, progress=lambda *a: told.append(a))
    assert told == [(1, 1)]
