"""The reconciliation rows: one per beneficiary with an outcome, by the same rules as the
cycle's outcomes (the rows counted by outcome are ``cycle_outcomes``' people), with the live
payment's (or the last failed attempt's) payee, batch and transaction, the attempts and the
last failure's reason; read in pages that change nothing in what is read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import PermissionDenied
from g2p_payment_phee.payments.outcomes import Outcome, cycle_outcomes
from g2p_payment_phee.payments.reconciliation import (
    reconciliation_rows,
    reconciliation_summary,
)
from g2p_payment_phee.programs.models import Program
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.users.models import Role, User
from tests import factories
from tests.integration.payments.reconciliation_world import FORMULA_NAME, PAID_AT, every_outcome


def test_rows_count_by_outcome_as_the_cycle_outcomes_do(
    session: Session, admin: User, approver: User, program: Program, phee: Callable[..., None]
) -> None:
    cycle = every_outcome(session, admin, approver, program, phee).cycle
    rows = list(reconciliation_rows(session, admin, cycle))
    outcomes = cycle_outcomes(session, admin, cycle)
    assert set(outcomes.people) == set(Outcome)  # every outcome happens
    counted = Counter(row.outcome for row in rows)
    assert counted == {o: people.count for o, people in outcomes.people.items()}
    for outcome, people in outcomes.people.items():
        amounts = sum((r.amount_approved for r in rows if r.outcome is outcome), Decimal(0))
        assert amounts == people.amount, outcome
    assert sum(r.amount_paid or 0 for r in rows) == outcomes.amount_paid
    attempts = sum(r.attempts for r in rows if r.outcome is not Outcome.REJECTED)
    assert attempts == outcomes.attempts
    assert reconciliation_summary(session, admin, cycle).rows == len(rows) == 9


def test_each_row_says_what_became_of_its_beneficiary(
    session: Session, admin: User, approver: User, program: Program, phee: Callable[..., None]
) -> None:
    cycle = every_outcome(session, admin, approver, program, phee).cycle
    rows = {row.reference: row for row in reconciliation_rows(session, admin, cycle)}
    not_payable = rows["B000000"]
    assert (not_payable.outcome, not_payable.attempts) == (Outcome.NOT_PAYABLE, 0)
    assert not_payable.reason == "no enabled phone number"
    assert not_payable.payee_id_value is None

    paid = rows["B000001"]
    assert paid.name == FORMULA_NAME  # as stored: the files neutralise it
    assert (paid.outcome, paid.amount_paid, paid.paid_at) == (Outcome.PAID, Decimal(100), PAID_AT)
    assert (paid.payee_id_type, paid.payee_id_value) == ("MSISDN", "+254700000001")
    assert (paid.batch_sequence, paid.phee_transaction_id, paid.attempts) == (1, "T-1-0", 1)

    retried = rows["B000002"]  # failed in batch 1, paid by the retry (batch 5)
    assert (retried.outcome, retried.attempts, retried.batch_sequence) == (Outcome.PAID, 2, 5)
    assert retried.reason == "Closed (1)"

    failed = rows["B000003"]  # failed twice: the last attempt's batch, transaction and reason
    assert (failed.outcome, failed.attempts, failed.batch_sequence) == (Outcome.FAILED, 2, 5)
    assert (failed.reason, failed.phee_transaction_id) == ("Closed (5)", "T-5-1")
    assert (failed.amount_paid, failed.paid_at) == (None, None)

    pending = rows["B000004"]
    assert (pending.outcome, pending.attempts, pending.batch_sequence) == (Outcome.PENDING, 1, 2)
    for reference in ("B000005", "B000006"):
        cancelled = rows[reference]
        assert (cancelled.outcome, cancelled.attempts) == (Outcome.CANCELLED, 0)
    assert (rows["B000007"].outcome, rows["B000007"].attempts) == (Outcome.NOT_SENT, 1)
    rejected = rows["B000008"]
    assert (rejected.outcome, rejected.attempts, rejected.payee_id_value) == (
        Outcome.REJECTED,
        0,
        None,
    )
    assert list(rows).index("B000008") == 8  # rejected ones after the approved ones


def test_small_pages_give_the_same_rows(
    session: Session, admin: User, approver: User, program: Program, phee: Callable[..., None]
) -> None:
    cycle = every_outcome(session, admin, approver, program, phee).cycle
    whole = list(reconciliation_rows(session, admin, cycle))
    assert list(reconciliation_rows(session, admin, cycle, page_size=2)) == whole
    assert list(reconciliation_rows(session, admin, cycle, page_size=8)) == whole


def test_entitlements_without_an_outcome_are_left_out_and_counted(
    session: Session, admin: User
) -> None:
    cycle = factories.pending_cycle(session, admin, beneficiaries=2)
    assert list(reconciliation_rows(session, admin, cycle)) == []
    summary = reconciliation_summary(session, admin, cycle)
    assert summary.rows == 0
    assert summary.left_out == {EntitlementState.PENDING_VALIDATION: 2}
    assert summary.batches == []


def test_rows_need_an_active_user(session: Session, admin: User) -> None:
    cycle = factories.pending_cycle(session, admin, beneficiaries=1)
    nobody = factories.user(session, "gone", Role.VIEWER, active=False)
    with pytest.raises(PermissionDenied):
        list(reconciliation_rows(session, nobody, cycle))
