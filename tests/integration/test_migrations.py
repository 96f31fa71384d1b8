"""The migrations make exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from g2p_payment_phee.db import Base, schema_is_current
from g2p_payment_phee.schema import load_models


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    load_models()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_migrated_database_is_at_the_newest_revision(engine: Engine) -> None:
    assert schema_is_current(engine)
