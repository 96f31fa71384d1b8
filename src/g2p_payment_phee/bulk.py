"""Set-based data work: bulk writes and raw streaming reads for the hot paths.

``RowWriter`` is the one way rows are written in bulk. It takes *named rows* (a column list and
tuples, or dicts through ``bulk_insert_dicts``) and owns what differs between the databases:
``COPY`` text with its escapes on PostgreSQL, ``executemany`` with SQLite's forms of UUIDs,
timestamps and amounts elsewhere. Values may be Python values (UUID, Decimal, aware datetime,
bool, enums) or the text a database reads for the column's type (a UUID's text, a number's
digits), as a ``raw(column)`` read hands them back. Rows are converted a column at a time,
a block of rows at once: a column of plain text needs no work per value, so hot loops that
pass text (preparing a million payments) pay almost nothing for the writing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from datetime import datetime
from itertools import chain, repeat
from operator import itemgetter
from types import TracebackType
from typing import Any

from sqlalchemy import JSON, ColumnElement, Uuid, type_coerce
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType, TypeEngine


def raw(column: Any) -> ColumnElement[Any]:
    """The column as the driver returns it (no result processing), under its own name."""
    return type_coerce(column, NullType()).label(getattr(column, "key", None))


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
    rows: Iterable[Sequence[Any]],
    *,
    fixed: Mapping[str, Any] | None = None,
) -> int:
    """Insert rows (tuples in ``columns`` order) in the session's transaction; ``fixed``: columns
    with the same value in every row. Returns how many rows were written."""
    with RowWriter(session.connection(), table, columns, fixed=fixed) as writer:
        return writer.write_many(rows)


def bulk_insert_dicts(session: Session, table: Any, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert rows given as dicts that all have the same keys; returns how many were written."""
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return 0
    columns = tuple(first)

    def values(row: Mapping[str, Any]) -> tuple[Any, ...]:
        if len(row) != len(columns):
            raise ValueError(f"rows of one bulk insert must have the same keys: {sorted(row)}")
        return tuple([row[name] for name in columns])

    return bulk_insert(session, table, columns, map(values, chain([first], iterator)))


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
_SPECIAL = frozenset(map(chr, _ESCAPES))  # the characters COPY text reads specially
_JOINER = "\x00"  # joins a column's values for one scan; PostgreSQL text never holds it


def copy_text(value: Any) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return _NULL
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
    if isinstance(value, str):  # a str enum: its value
        return copy_text(str.__str__(value))
    return str(value)


def _copy_column(values: Sequence[Any]) -> Sequence[str]:
    """One column of a block as COPY text: as it is when every value is text without a character
    COPY reads specially (one scan of the joined column), else value by value."""
    try:
        joined = _JOINER.join(values)
    except TypeError:  # None, numbers, UUIDs, times
        return _copy_column_with_others(values)
    if _has_special(joined):
        return [copy_text(value) for value in values]
    return values


def _has_special(text: str) -> bool:
    return "\\" in text or "\t" in text or "\n" in text or "\r" in text


def _copy_column_with_others(values: Sequence[Any]) -> Sequence[str]:
    """A column of text and NULLs in a few passes; anything else value by value."""
    present = [value for value in values if value is not None]
    try:
        joined = _JOINER.join(present)
    except TypeError:
        return _each_copy_text(values)
    if _has_special(joined):
        return [copy_text(value) for value in values]
    return [_NULL if value is None else value for value in values]


def _each_copy_text(values: Sequence[Any]) -> Sequence[str]:
    """Value by value; a column that repeats a few values (a timestamp, row numbers, None)
    converts each of them once. Equal values share their text: ``1`` and ``Decimal("1.00")``
    are the same number to the database."""
    try:
        distinct = set(values)
    except TypeError:  # unhashable
        return [copy_text(value) for value in values]
    if len(distinct) * 2 > len(values):
        return [copy_text(value) for value in values]
    texts = {value: copy_text(value) for value in distinct}
    return list(map(texts.__getitem__, values))


_SQLITE_NATIVE = frozenset({str, int, float, bytes})
_UUID_MARK = "replace(?, '-', '')"  # a UUID's text as SQLite stores it: 32 hex digits
_SQLITE_AS_THEY_ARE = _SQLITE_NATIVE | {type(None)}


def _sqlite_column(column_type: TypeEngine[Any], dialect: Dialect) -> Any:
    """How one column's values become what SQLite stores, a block at a time: UUIDs as 32 hex
    digits, other Python values through the column type's own bind processor (as SQLAlchemy
    stores them); text and numbers read from SQLite are already in that form."""
    if isinstance(column_type, Uuid):
        return _uuid_hex
    processor = column_type._cached_bind_processor(dialect)
    if processor is None:
        return None
    always = isinstance(column_type, JSON)  # text is a JSON value too, never stored as it is

    def convert(values: Sequence[Any]) -> Sequence[Any]:
        native = () if always else _SQLITE_NATIVE
        return [v if v is None or type(v) in native else processor(v) for v in values]

    return convert


def _has_hyphens(values: Iterable[Any]) -> bool:
    try:
        return "-" in _JOINER.join(values)
    except TypeError:  # NULLs
        return True


def _sqlite_value(column_type: TypeEngine[Any], dialect: Dialect, value: Any) -> Any:
    convert = _sqlite_column(column_type, dialect)
    return value if convert is None else convert([value])[0]


def _uuid_hex(values: Sequence[Any]) -> Sequence[Any]:
    try:
        return _JOINER.join(values).replace("-", "").split(_JOINER)
    except TypeError:  # UUID objects or None
        return [_one_uuid_hex(value) for value in values]


def _one_uuid_hex(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value if value is None else value.replace("-", "")
    return value.hex


class RowWriter:
    """Rows written as they are produced, in the caller's transaction.

    On PostgreSQL a ``COPY`` stays open and blocks of rows go out through a writer thread, so
    the server stores rows while the caller makes the next ones; elsewhere rows are buffered and
    written with ``executemany``. Close the writer (or leave its ``with`` block) before running
    another statement on the connection; it can be written again afterwards.
    """

    BLOCK_ROWS = 2_000  # PostgreSQL: rows converted and sent at once
    BUFFER_ROWS = 20_000  # elsewhere: rows per executemany

    def __init__(
        self,
        connection: Connection,
        table: Any,
        columns: Sequence[str],
        *,
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        self.connection, self.table, self.columns = connection, table, tuple(columns)
        fixed = dict(fixed or {})
        names = ", ".join((*self.columns, *fixed))
        dialect = connection.dialect
        self.postgres = dialect.name == "postgresql"
        self._pending: list[Sequence[Any]] = []
        self._copy: Any = None
        self._stack = ExitStack()
        if self.postgres:
            self._limit = self.BLOCK_ROWS
            self._fixed: list[Any] = [copy_text(value) for value in fixed.values()]
            self._sql = f"COPY {table.name} ({names}) FROM STDIN"
            return
        self._limit = self.BUFFER_ROWS
        types = [table.c[name].type for name in self.columns]
        self._converters = [_sqlite_column(column_type, dialect) for column_type in types]
        # Rows of text, numbers and NULLs go as they are, unless a column is JSON (whose text
        # is a JSON value too).
        self._as_they_are = not any(isinstance(column_type, JSON) for column_type in types)
        self._fixed = [_sqlite_value(table.c[name].type, dialect, v) for name, v in fixed.items()]
        self._uuids = [i for i, column_type in enumerate(types) if isinstance(column_type, Uuid)]
        self._insert = f"INSERT INTO {table.name} ({names}) VALUES "  # noqa: S608 - model names

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
            return
        self._pending = []
        self._end_copy(kind, error, trace)  # an open COPY is abandoned, not completed

    def write(self, row: Sequence[Any]) -> None:
        """Queue one row, its values in ``columns`` order (written in blocks)."""
        self._pending.append(row)
        if len(self._pending) >= self._limit:
            self._write_pending()

    def write_many(self, rows: Iterable[Sequence[Any]]) -> int:
        """Queue many rows; returns how many."""
        count = 0
        for row in rows:
            self._pending.append(row)
            count += 1
            if len(self._pending) >= self._limit:
                self._write_pending()
        return count

    def close(self) -> None:
        """Write what is pending and end the COPY."""
        if self._pending:
            self._write_pending()
        self._end_copy(None, None, None)

    def _write_pending(self) -> None:
        rows, self._pending = self._pending, []
        if self.postgres:
            self._copy_rows(rows)
        else:
            self._insert_rows(rows)

    def _by_column(self, rows: list[Sequence[Any]]) -> list[Sequence[Any]]:
        by_column: list[Sequence[Any]] = list(zip(*rows, strict=True))
        if len(by_column) != len(self.columns):
            raise ValueError(f"rows for {self.table.name} must have {len(self.columns)} values")
        return by_column

    def _copy_rows(self, rows: list[Sequence[Any]]) -> None:
        columns: list[Any] = [_copy_column(values) for values in self._by_column(rows)]
        columns.extend(repeat(text, len(rows)) for text in self._fixed)
        self._copy_stream().write("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n")

    def _insert_rows(self, rows: list[Sequence[Any]]) -> None:
        fixed = tuple(self._fixed)
        marks = ["?"] * (len(self.columns) + len(fixed))
        values: list[Any]
        if self._as_they_are and _SQLITE_AS_THEY_ARE.issuperset(
            map(type, chain.from_iterable(rows))
        ):
            # The rows go as they are: UUID text with hyphens loses them in the statement.
            for index in self._uuids:
                if _has_hyphens(map(itemgetter(index), rows)):
                    marks[index] = _UUID_MARK
            values = [tuple(row) + fixed for row in rows] if fixed else rows
        else:
            columns: list[Any] = [
                column if convert is None else convert(column)
                for convert, column in zip(self._converters, self._by_column(rows), strict=True)
            ]
            columns.extend(repeat(value, len(rows)) for value in fixed)
            values = list(zip(*columns, strict=True))
        self.connection.exec_driver_sql(f"{self._insert}({', '.join(marks)})", values)

    def _copy_stream(self) -> Any:
        if self._copy is None:
            from psycopg.copy import QueuedLibpqWriter

            driver = self.connection.connection.driver_connection
            self._stack = ExitStack()
            cursor = self._stack.enter_context(driver.cursor())  # type: ignore[union-attr]
            writer = QueuedLibpqWriter(cursor)
            self._copy = self._stack.enter_context(cursor.copy(self._sql, writer=writer))
        return self._copy

    def _end_copy(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._copy is not None:
            self._copy = None
            self._stack.__exit__(kind, error, trace)
