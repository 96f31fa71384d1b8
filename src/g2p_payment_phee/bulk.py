"""Set-based data work: bulk writes and raw streaming reads for the hot paths.

``bulk_insert`` uses ``COPY`` on PostgreSQL and a plain DBAPI ``executemany`` elsewhere. Hot
loops (preparing a million payments) read and write *database-native* values: ``raw(column)``
selects a column without SQLAlchemy's per-row conversion, ``NativeValues`` converts the few
values the loop makes itself, and such rows are written with ``native=True``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, type_coerce
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType


def raw(column: Any) -> ColumnElement[Any]:
    """The column as the driver returns it (no result processing), under its own name."""
    return type_coerce(column, NullType()).label(getattr(column, "key", None))


class NativeValues:
    """Database-native forms of the values a hot loop makes (UUIDs, constants)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.postgres = dialect.name == "postgresql"

    def new_uuid(self) -> tuple[Any, str]:
        """A fresh UUID as (native value, canonical text)."""
        value = uuid.uuid4()
        return (value if self.postgres else value.hex), str(value)

    def of(self, table: Table, column: str, value: Any) -> Any:
        """``value`` converted by the column's own bind processor, as SQLAlchemy would store it."""
        if value is None:
            return None
        processor = table.c[column].type._cached_bind_processor(self.dialect)
        return processor(value) if processor is not None else value


def bulk_insert(
    session: Session,
    table: Any,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    native: bool = False,
) -> None:
    """Insert many rows in the session's transaction: ``COPY`` on PostgreSQL, executemany elsewhere.

    Rows are tuples in ``columns`` order, either Python values (UUID, Decimal, aware datetime,
    str for enums) converted here by the columns' types, or, with ``native=True``, values that
    are already in the database's form.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _copy(connection, table, columns, rows)
        return
    if not native:
        rows = _converted(connection.dialect, table, columns, rows)
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - names come from the table model
    connection.exec_driver_sql(sql, rows)


def _copy(
    connection: Connection, table: Any, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    driver = connection.connection.driver_connection
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row(row)


def _converted(
    dialect: Dialect, table: Any, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    processors = [table.c[name].type._cached_bind_processor(dialect) for name in columns]
    pairs = list(enumerate(processors))
    active = [(i, p) for i, p in pairs if p is not None]
    converted = []
    for row in rows:
        values = list(row)
        for index, processor in active:
            if values[index] is not None:
                values[index] = processor(values[index])
        converted.append(tuple(values))
    return converted
