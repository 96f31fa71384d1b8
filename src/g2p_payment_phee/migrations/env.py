"""Alembic environment: runs on the connection handed over by ``db.migrate`` (or a URL)."""

from __future__ import annotations

from alembic import context

from g2p_payment_phee.db import Base, make_engine
from g2p_payment_phee.schema import load_models

load_models()
config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from g2p_payment_phee.config import get_settings

        url = get_settings().database_url
    with make_engine(url).begin() as conn:
        _run(conn)
