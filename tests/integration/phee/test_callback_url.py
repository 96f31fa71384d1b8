"""The callback URL from the application's address, however it was typed: PHEE calls
``<address>/api/v1/phee/callback/<token>``, and the application serves that path."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from g2p_payment_phee.jobs.models import Job
from g2p_payment_phee.jobs.runner import install_runner
from g2p_payment_phee.payments import service
from g2p_payment_phee.phee.callbacks import callback_token
from g2p_payment_phee.web import app as web_app
from tests.integration.phee.conftest import PheeProgram
from tests.integration.web.test_callback_endpoint import RecordingRunner


@pytest.mark.parametrize("path", ["", "/", "/api/v1", "/api/v1/"])
def test_the_hub_calls_the_route_the_application_serves(
    phee_program: PheeProgram, path: str
) -> None:
    p, hub = phee_program, phee_program.hub
    p.configure(callback_base_url=hub.base_url + path)  # the hub stands in for our address
    cycle = p.prepared_cycle(1)
    hub.set_outcomes({"delay_seconds": 60})
    sent = service.send_cycle(p.factory, p.admin, cycle.id)
    assert [r.outcome for r in sent.results] == ["submitted"]
    [batch] = p.batches(cycle)

    hub.complete_all()
    [attempt] = hub.wait_for_callbacks(1)
    assert attempt["url"] == f"{hub.base_url}/api/v1/phee/callback/{callback_token(batch.id)}"

    client = TestClient(web_app.create_app(p.factory))
    runner = RecordingRunner()
    install_runner(p.factory, runner)
    answer = client.post(urlsplit(attempt["url"]).path, json=attempt["body"])
    assert (answer.status_code, answer.json()) == (200, {"status": "received"})
    p.session.expire_all()
    job = p.session.scalars(select(Job)).one()  # verified: a sync of that batch was asked for
    assert (job.kind, job.params) == ("sync_batch", {"batch_id": str(batch.id)})
    assert runner.dispatched == [job.id]
