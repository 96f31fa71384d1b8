"""Engine and session factory, the declarative ``Base`` and the column types every model uses.

Rules held here so no model can forget them: UUID primary keys, timezone-aware UTC timestamps
(also on SQLite, which stores no zone), named constraints (Alembic can drop them by name), and
``Numeric`` money wide enough for national totals.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import DateTime, Engine, Enum, MetaData, Numeric, Uuid, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from g2p_payment_phee.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MONEY_PRECISION = 24
MONEY_SCALE = 4


def utcnow() -> datetime:
    """Now, timezone-aware UTC: the only clock models use."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def Money() -> Numeric[Decimal]:
    """Decimal money: 20 integer digits and 4 decimals, enough for any national total."""
    return Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True)


class Base(DeclarativeBase):
    """Declarative base: named constraints, a UUID ``id`` and ``created_at`` on every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, uuid.UUID: Uuid}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# A PostgreSQL server that stops answering (a silent network partition) must not stall a worker
# forever: connecting gives up after CONNECT_TIMEOUT_SECONDS, and TCP keepalives notice a dead
# peer on an open connection within about a minute, so the task's database retry takes over.
CONNECT_TIMEOUT_SECONDS = 10
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout, PostgreSQL a
    connect timeout and TCP keepalives."""
    if url.startswith("sqlite"):
        _, has_path, rest = url.partition(":///")  # "sqlite://" alone is in memory
        path = rest.split("?", 1)[0] if has_path else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            from pathlib import Path

            from g2p_payment_phee.security import private_dir, private_file

            # Owner-only before SQLite opens it; its -wal and -shm files take the same mode.
            private_file(private_dir(Path(path).parent) / Path(path).name)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    connect_args = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "keepalives_count": 3,
        **PG_KEEPALIVES,
        **kwargs.pop("connect_args", {}),
    }
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (entry points print them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One session, committed once at the end, rolled back on any error: entry points use this."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic: the only way the schema is made."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "g2p_payment_phee:migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is migrated to the newest revision this code knows."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "g2p_payment_phee:migrations")
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def StrEnumType(cls: type[StrEnum]) -> Enum:
    """A state/kind column: the enum's *values* as short strings (what raw SQL and reports see)."""
    return Enum(
        cls,
        native_enum=False,
        length=30,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


def is_database_lost(error: BaseException) -> bool:
    """True when ``error`` says the database could not be reached or dropped the connection
    (also deadlocks and serialisation failures, which PostgreSQL reports the same way): worth
    retrying the whole unit of work later, never a reason to fail a job for good."""
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def database_problem(error: BaseException) -> str:
    """A short description of a database error for logs: the driver's first line, without the
    SQL statement or its parameters (which may carry anything)."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return f"{type(original).__name__}: {lines[0][:200] if lines else ''}".rstrip(": ")
