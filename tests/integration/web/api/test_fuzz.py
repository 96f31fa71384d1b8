"""API fuzzing: schemathesis generates requests for every operation of the OpenAPI document
(valid and invalid bodies, parameters and ids) and sends them in-process with a valid admin
token; no answer may be a server error. Runs in CI with the rest of the suite (marked slow)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.users.auth import create_api_token
from g2p_payment_phee.users.models import User
from g2p_payment_phee.web.app import create_app
from tests.integration.web.api.world import World, build_world

EXAMPLES_PER_OPERATION = 20


@pytest.mark.slow
def test_no_server_error(
    session: Session, session_factory: sessionmaker[Session], admin: User, approver: User
) -> None:
    world = build_world(session, admin, approver)
    token = create_api_token(session, admin, "fuzz").token
    session.commit()
    app = create_app(session_factory)
    try:
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        assert len(operations) > 40
        for operation in operations:
            _fuzz(operation, token, _known_ids(world))
    finally:
        app.state.job_runner.shutdown(wait=True)


def _known_ids(world: World) -> dict[str, list[str]]:
    """Path parameters that name rows which exist, so generated calls also reach the services."""
    return {
        "program_id": [world.program],
        "cycle_id": [world.cycle, world.draft_cycle],
        "batch_id": [world.batch],
        "payment_id": [world.payment],
        "reference": [world.registrant],
        "username": [world.spare_user],
    }


def _fuzz(operation: Any, token: str, known: dict[str, list[str]]) -> None:
    def with_known_ids(case: Any, pick: int) -> Any:
        if pick and case.path_parameters:
            for name in case.path_parameters:
                if name in known:
                    case.path_parameters[name] = known[name][pick % len(known[name])]
        return case

    strategy = st.tuples(operation.as_strategy(), st.integers(0, 3))

    @given(case=strategy.map(lambda pair: with_known_ids(*pair)))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error]
        )

    run()
