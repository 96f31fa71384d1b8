"""Which job runner the settings choose, and a broker URL that cannot work refused clearly."""

from __future__ import annotations

import pytest

from g2p_payment_phee.config import JobRunnerKind, get_settings
from g2p_payment_phee.errors import ConfigurationError
from g2p_payment_phee.jobs.celery_app import celery_config

SCALE = {
    "G2P_MODE": "scale",
    "G2P_DATABASE_URL": "postgresql://db/g2p",
    "G2P_SECRET_KEY": "k" * 40,
}


def _env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def test_embedded_runs_jobs_in_process_without_a_broker() -> None:
    assert get_settings().job_runner is JobRunnerKind.INPROCESS


def test_scale_mode_uses_celery_and_needs_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, SCALE)
    with pytest.raises(ConfigurationError, match="G2P_BROKER_URL is required"):
        get_settings()
    _env(monkeypatch, {"G2P_BROKER_URL": "redis://:s3cret@redis:6379/0"})
    settings = get_settings()
    assert settings.job_runner is JobRunnerKind.CELERY
    conf = celery_config(settings)
    assert conf["broker_url"] == "redis://:s3cret@redis:6379/0"
    assert (conf["task_acks_late"], conf["task_reject_on_worker_lost"]) == (True, True)
    assert (conf["worker_prefetch_multiplier"], conf["task_serializer"]) == (1, "json")
    assert conf["accept_content"] == ["json"]
    assert "s3cret" not in repr(settings)  # the broker URL may carry a password


@pytest.mark.parametrize("url", ["localhost:6379", "http://u:pw@redis:6379", "redis://", "  "])
def test_a_misconfigured_broker_url_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    _env(monkeypatch, {**SCALE, "G2P_BROKER_URL": url})
    with pytest.raises(ConfigurationError, match="G2P_BROKER_URL") as raised:
        get_settings()
    assert "pw@" not in raised.value.message


def test_embedded_mode_may_choose_celery(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {"G2P_JOB_RUNNER": "celery", "G2P_BROKER_URL": "amqp://guest@mq//"})
    assert get_settings().job_runner is JobRunnerKind.CELERY
