"""Words for people: the audit log in sentences, job results with their next step, batches by
their number in the cycle, the import template to download."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee.users.models import User
from tests.integration.web.pages.builders import PaidCycle, prepared_cycle
from tests.integration.web.pages.conftest import Browser


@pytest.fixture
def paid(session: Session, admin: User, approver: User) -> PaidCycle:
    built = prepared_cycle(session, admin, approver, size=3)
    session.commit()
    return built


def test_the_audit_log_speaks_in_sentences(
    paid: PaidCycle, viewer: User, approver: User, as_user: Callable[[User], Browser]
) -> None:
    page = as_user(viewer).get("/audit?action=cycle.approved").text
    assert f"{approver.username}</bdi> approved the cycle" in page
    assert 'href="/audit?action=cycle.approved"' in page  # the code stays, small, as a filter
    assert f'<a href="/cycles/{paid.cycle.id}">cycle</a>' in page
    assert '<th scope="row">To</th><td>approved</td>' in page
    assert "from=" not in page  # no Python dicts
