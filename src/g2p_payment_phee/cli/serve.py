"""``g2p-phee serve``: the web application (pages for staff, JSON API) with uvicorn."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.cli.context import console, state
from g2p_payment_phee.config import Settings, get_settings
from g2p_payment_phee.i18n import _


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 8000,
) -> None:
    """Serve the web UI and the REST API until interrupted (the database must be initialised)."""
    cli = state(ctx)
    factory = cli.session_factory()  # refuses an uninitialised or outdated database
    cli.settings.secret()
    run_server(factory, host, port)


def uvicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    """uvicorn's keyword arguments besides the application.

    X-Forwarded-For/-Proto are believed only from ``G2P_TRUSTED_PROXIES``: uvicorn's own
    default (127.0.0.1, or ``FORWARDED_ALLOW_IPS``) would let any local process, or any client
    when the proxy passes the header through, choose the address the sign-in limit and the
    audit log see.
    """
    trusted = settings.trusted_proxies
    return {
        "host": host,
        "port": port,
        "log_level": "warning",
        "server_header": False,  # no "server: uvicorn" banner
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted.split(",") if trusted else [],
    }


def run_server(factory: sessionmaker[Session], host: str, port: int) -> None:
    """Run the application over ``factory`` in this thread until Ctrl+C."""
    import uvicorn

    from g2p_payment_phee.web.app import create_app

    console.print(
        _("web UI on http://{host}:{port}/ (API under /api/v1, docs at /api/docs)").format(
            host=host, port=port
        )
    )
    uvicorn.run(create_app(factory), **uvicorn_options(get_settings(), host, port))
