"""Set-based data work: bulk writes and raw streaming reads for the hot paths.

``bulk_insert`` and ``RowStream`` use ``COPY`` on PostgreSQL and a plain DBAPI ``executemany``
elsewhere. Hot loops (preparing a million payments) read and write *database-native* values:
``raw(column)`` selects a column without SQLAlchemy's per-row conversion, ``NativeValues``
converts the few values the loop makes itself, and such rows are written with ``native=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, type_coerce
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

    def uuid_value(self, text: str) -> Any:
        """A UUID's canonical text in this database's native form."""
        return text if self.postgres else text.replace("-", "")

    def row_value(self, value: Any) -> Any:
        """A value as ``RowStream.write(..., as_text=True)`` wants it on this database."""
        return copy_text(value) if self.postgres else value

    def of(self, table: Any, column: str, value: Any) -> Any:
        """``value`` converted by the column's own bind processor, as SQLAlchemy would store it."""
        if value is None:
            return None
        processor = table.c[column].type._cached_bind_processor(self.dialect)
        return processor(value) if processor is not None else value


def prefer_indexes(session: Session) -> None:
    """For the rest of this transaction (PostgreSQL), plan with indexes rather than whole-table
    scans. For transactions that touch a few batches' rows of a table a bulk job is growing or
    rewriting: its statistics lag behind (autovacuum has not analysed it yet), and the planner
    would scan a million payments to update forty thousand. Only in transactions whose every
    statement is such a keyed one. JIT is off too: the plans' costs now include the penalty for
    the scans they avoid, which would make PostgreSQL compile every statement (~0.1-0.3 s)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        connection.exec_driver_sql("SET LOCAL jit = off")


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
    if not native and connection.dialect.name != "postgresql":
        rows = _converted(connection.dialect, table, columns, rows)
    stream = RowStream(connection, table, columns)
    for row in rows:
        stream.write(row)
    stream.close()


def _converted(
    dialect: Dialect, table: Any, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    processors = [table.c[name].type._cached_bind_processor(dialect) for name in columns]
    active = [(i, p) for i, p in enumerate(processors) if p is not None]
    converted = []
    for row in rows:
        values = list(row)
        for index, processor in active:
            if values[index] is not None:
                values[index] = processor(values[index])
        converted.append(tuple(values))
    return converted


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_ESCAPES = _ESCAPES  # ``text.translate(COPY_ESCAPES)``: a str in COPY text format
_SPECIAL = frozenset(map(chr, _ESCAPES))  # the characters COPY text reads specially


def copy_text(value: Any) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is str:
        # Most values hold none of them; the check costs far less than the translation.
        return value if _SPECIAL.isdisjoint(value) else str(value).translate(_ESCAPES)
    if kind is bytes:
        return "\\\\x" + str(value.hex())
    if kind is bool:
        return "t" if value else "f"
    if kind is datetime:
        return str(value.isoformat())
    return str(value)


class RowStream:
    """Rows written as they are produced, in the caller's transaction.

    On PostgreSQL a ``COPY`` stays open and rows go out in small blocks through a writer thread,
    so the server stores rows while the caller makes the next ones; elsewhere rows are buffered
    and written with ``executemany``. Values must be database-native (``str`` is fine for any
    PostgreSQL type). Close the stream before running another statement on the connection.
    """

    BUFFER_ROWS = 20_000
    SEND_ROWS = 2_000

    def __init__(self, connection: Connection, table: Any, columns: Sequence[str]) -> None:
        self.connection, self.table, self.columns = connection, table, tuple(columns)
        self.postgres = connection.dialect.name == "postgresql"
        self.pending: list[Any] = []
        self._copy: Any = None
        self._stack = ExitStack()

    def write(self, row: tuple[Any, ...], *, as_text: bool = False) -> None:
        """Queue one row (sent at once in blocks on PostgreSQL).

        ``as_text``: on PostgreSQL every value is already COPY text (``str``, escaped)."""
        if self.postgres:
            line = "\t".join(row) if as_text else "\t".join(map(copy_text, row))
            self.pending.append(line + "\n")
            if len(self.pending) >= self.SEND_ROWS:
                self._send()
            return
        self.pending.append(row)
        if len(self.pending) >= self.BUFFER_ROWS:
            self._executemany()

    def write_line(self, line: str) -> None:
        """Queue one row already in COPY text format, ending with a newline (PostgreSQL)."""
        self.pending.append(line)
        if len(self.pending) >= self.SEND_ROWS:
            self._send()

    def _send(self) -> None:
        if self._copy is None:
            from psycopg.copy import QueuedLibpqWriter

            driver = self.connection.connection.driver_connection
            self._stack = ExitStack()
            cursor = self._stack.enter_context(driver.cursor())  # type: ignore[union-attr]
            sql = f"COPY {self.table.name} ({', '.join(self.columns)}) FROM STDIN"
            writer = QueuedLibpqWriter(cursor)
            self._copy = self._stack.enter_context(cursor.copy(sql, writer=writer))
        self._copy.write("".join(self.pending))
        self.pending = []

    def _executemany(self) -> None:
        marks = ", ".join("?" for _ in self.columns)
        names = ", ".join(self.columns)
        sql = f"INSERT INTO {self.table.name} ({names}) VALUES ({marks})"  # noqa: S608 - model names
        self.connection.exec_driver_sql(sql, self.pending)
        self.pending = []

    def close(self) -> None:
        """Write what is pending and end the COPY (the stream can be written again later)."""
        if not self.postgres:
            if self.pending:
                self._executemany()
            return
        if self.pending:
            self._send()
        if self._copy is not None:
            self._stack.close()
            self._copy = None
