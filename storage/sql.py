"""The connection the repositories talk to, whatever the engine: the small subset of
``aiosqlite.Connection`` they use.

An ``aiosqlite.Connection`` is one as it is (SQLite); ``storage.postgres.connection.PgConnection``
is one over an asyncpg connection (PostgreSQL). Repositories are typed against
:class:`SqlConnection` and write SQL both engines run alike: ``?`` placeholders (the PostgreSQL
adapter numbers them), ``INSERT … RETURNING id`` instead of ``lastrowid``, ``ON CONFLICT … DO
NOTHING`` / ``DO UPDATE`` instead of ``INSERT OR IGNORE`` / ``OR REPLACE``, ``IS DISTINCT FROM``
instead of ``IS NOT ?``, and no engine-only functions (``json_extract``, ``strftime``…).

A statement a constraint refuses raises one of :data:`INTEGRITY_ERRORS` on either engine, and
the transaction stays usable afterwards on both (SQLite undoes just the statement; the
PostgreSQL adapter runs writes inside a savepoint for the same effect).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Iterable
from types import TracebackType
from typing import Any, Protocol

__all__ = [
    "INTEGRITY_ERRORS",
    "MISSING_TABLE_ERRORS",
    "IntegrityError",
    "MissingTableError",
    "SqlConnection",
    "SqlCursor",
    "SqlResult",
    "inserted_id",
]


class SqlCursor(Protocol):
    """The rows of one statement and how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    async def fetchone(self) -> Any: ...

    async def fetchall(self) -> Iterable[Any]: ...


class SqlResult(Protocol):
    """What ``execute`` returns: awaited, or used as ``async with … as cursor``."""

    def __await__(self) -> Generator[Any, None, SqlCursor]: ...

    async def __aenter__(self) -> SqlCursor: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> bool | None: ...


class SqlConnection(Protocol):
    """One database connection inside a unit of work's transaction."""

    def execute(self, sql: str, parameters: Iterable[Any] | None = None, /) -> SqlResult: ...

    def executemany(self, sql: str, parameters: Iterable[Iterable[Any]], /) -> SqlResult: ...


class IntegrityError(Exception):
    """PostgreSQL refused a statement on a constraint (unique, check, foreign key, not null).

    SQLite raises ``sqlite3.IntegrityError`` for the same; catch :data:`INTEGRITY_ERRORS`.
    """


class MissingTableError(Exception):
    """PostgreSQL has no such table (a schema from before it); SQLite says so through
    ``sqlite3.OperationalError`` 'no such table'. Test with :func:`is_missing_table`."""


INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, IntegrityError)
MISSING_TABLE_ERRORS: tuple[type[Exception], ...] = (sqlite3.OperationalError, MissingTableError)


def is_missing_table(exc: Exception) -> bool:
    """True when ``exc`` (one of :data:`MISSING_TABLE_ERRORS`) says a table does not exist."""
    return isinstance(exc, MissingTableError) or "no such table" in str(exc)


async def inserted_id(conn: SqlConnection, sql: str, parameters: Iterable[Any]) -> int:
    """Run ``INSERT … RETURNING id`` and return the new row's id."""
    async with conn.execute(sql, parameters) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise RuntimeError("INSERT … RETURNING id returned no row")
    return int(row[0])
