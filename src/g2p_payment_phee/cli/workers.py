"""``g2p-phee worker`` and ``g2p-phee beat``: the Celery side of scale mode."""

from __future__ import annotations

from typing import Annotated

import typer

from g2p_payment_phee.cli.context import state
from g2p_payment_phee.errors import ConfigurationError
from g2p_payment_phee.i18n import _


def _celery(ctx: typer.Context) -> None:
    from g2p_payment_phee.config import JobRunnerKind

    settings = state(ctx).settings
    if settings.job_runner is not JobRunnerKind.CELERY:
        raise ConfigurationError(
            _("workers need G2P_JOB_RUNNER=celery (the default in scale mode) and G2P_BROKER_URL")
        )
    state(ctx).session_factory()  # refuse an uninitialised or outdated database early


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Tasks at once (processes)")
    ] = 2,
    pool: Annotated[
        str, typer.Option("--pool", help="prefork (default), threads or solo (one process)")
    ] = "prefork",
    hostname: Annotated[
        str | None, typer.Option("--hostname", "-n", help="Worker name (default: celery@host)")
    ] = None,
) -> None:
    """Run a Celery worker: jobs, batch sends and syncs from the broker (G2P_BROKER_URL)."""
    _celery(ctx)
    from g2p_payment_phee.jobs.celery_app import app

    settings = state(ctx).settings
    argv = [
        "worker",
        f"--loglevel={settings.log_level}",
        f"--queues={settings.celery_queue}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)


def beat(ctx: typer.Context) -> None:
    """Run Celery beat: the periodic sweep (G2P_SWEEP_SECONDS). Run exactly one."""
    _celery(ctx)
    from g2p_payment_phee.jobs.celery_app import app

    app.start(["beat", f"--loglevel={state(ctx).settings.log_level}"])
