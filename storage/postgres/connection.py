"""``SqlConnection`` over one asyncpg connection: the repositories' SQL runs unchanged.

- ``?`` placeholders become ``$1, $2, …`` (outside quoted text, identifiers and comments);
  the translation is cached per statement text.
- ``rowcount`` comes from the command's status tag (``UPDATE 3``), or is the number of rows a
  ``… RETURNING`` statement gave; -1 for a plain query, as sqlite3 says.
- A write (``INSERT``/``UPDATE``/``DELETE``) inside a transaction runs in a savepoint. PostgreSQL
  aborts the whole transaction when one statement fails, where SQLite undoes just that
  statement; services catch a refused insert (``DuplicateError``) and carry on in the same unit
  of work, so the savepoint keeps SQLite's behaviour.
- Errors come back engine-neutral: a constraint violation as :class:`storage.sql.IntegrityError`,
  a missing table as :class:`storage.sql.MissingTableError`; PostgreSQL's own ``DETAIL`` (which
  quotes the offending values) is left out of the message.
- Python ``bool`` parameters are sent as 0/1, as sqlite3 stores them (integers are BIGINT here).
"""

from __future__ import annotations

import itertools
from collections.abc import Generator, Iterable, Sequence
from functools import lru_cache
from types import TracebackType
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from core.digits import parse_int
from storage.sql import IntegrityError, MissingTableError

# A connection of its own, or one lent by a pool (asyncpg hands out a proxy).
RawConnection = asyncpg.Connection | PoolConnectionProxy

_WRITES = ("INSERT", "UPDATE", "DELETE")
_ROWS = ("SELECT", "WITH", "VALUES", "SHOW", "TABLE", "EXPLAIN")


@lru_cache(maxsize=2048)
def numbered(sql: str) -> str:
    """``sql`` with each ``?`` placeholder numbered ``$n`` in order (quotes, comments kept)."""
    out: list[str] = []
    count = 0
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = sql.find(ch, i + 1)
            while end != -1 and end + 1 < n and sql[end + 1] == ch:  # doubled quote: escaped
                end = sql.find(ch, end + 2)
            end = n if end == -1 else end + 1
            out.append(sql[i:end])
            i = end
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end == -1 else end
            out.append(sql[i:end])
            i = end
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append(sql[i:end])
            i = end
        elif ch == "?":
            count += 1
            out.append(f"${count}")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@lru_cache(maxsize=2048)
def _kind(sql: str) -> tuple[bool, bool]:
    """(returns rows, is a write) for a statement."""
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    write = head in _WRITES
    rows = head in _ROWS or (write and "RETURNING" in sql.upper())
    return rows, write


def _argument(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _arguments(parameters: Iterable[Any] | None) -> list[Any]:
    return [] if parameters is None else [_argument(value) for value in parameters]


def _status_count(status: str) -> int:
    """Rows changed by the command of status tag ``status`` (``INSERT 0 2`` → 2)."""
    count = parse_int(status.rsplit(" ", 1)[-1], max_digits=19)
    return -1 if count is None else count


def _neutral(exc: asyncpg.PostgresError) -> Exception:
    message = str(getattr(exc, "message", "") or exc.__class__.__name__)
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(message)
    if isinstance(exc, asyncpg.UndefinedTableError):
        return MissingTableError(message)
    return exc


class PgCursor:
    """The rows a statement gave (all fetched at once) and its row count."""

    def __init__(self, rows: Sequence[tuple[Any, ...]], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self._rowcount = rowcount

    @property
    def rowcount(self) -> int:
        """Rows the statement changed (-1 for a query)."""
        return self._rowcount

    async def fetchone(self) -> tuple[Any, ...] | None:
        """The next row, or None."""
        if self._next >= len(self._rows):
            return None
        row = self._rows[self._next]
        self._next += 1
        return row

    async def fetchall(self) -> list[tuple[Any, ...]]:
        """The remaining rows."""
        rows = list(self._rows[self._next :])
        self._next = len(self._rows)
        return rows

    async def __aenter__(self) -> PgCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class PgResult:
    """What :meth:`PgConnection.execute` returns: awaitable, or an async context manager."""

    def __init__(self, run: Generator[Any, None, PgCursor]) -> None:
        self._run = run
        self._cursor: PgCursor | None = None

    def __await__(self) -> Generator[Any, None, PgCursor]:
        return self._run

    async def __aenter__(self) -> PgCursor:
        self._cursor = await self
        return self._cursor

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> bool | None:
        return None


class PgConnection:
    """One asyncpg connection seen as a :class:`storage.sql.SqlConnection`."""

    def __init__(self, conn: RawConnection) -> None:
        self.raw = conn
        self._savepoints = itertools.count(1)

    def __repr__(self) -> str:
        return f"PgConnection(in_transaction={self.raw.is_in_transaction()})"

    def execute(self, sql: str, parameters: Iterable[Any] | None = None, /) -> PgResult:
        """Run one statement with ``?`` parameters."""
        return PgResult(self._execute(sql, _arguments(parameters)).__await__())

    def executemany(self, sql: str, parameters: Iterable[Iterable[Any]], /) -> PgResult:
        """Run one statement once per parameter row (no rows come back)."""
        rows = [_arguments(row) for row in parameters]
        return PgResult(self._executemany(sql, rows).__await__())

    async def _execute(self, sql: str, args: list[Any]) -> PgCursor:
        text = numbered(sql)
        returns_rows, write = _kind(sql)
        guarded = write and self.raw.is_in_transaction()
        name = f"sp{next(self._savepoints)}" if guarded else ""
        try:
            if guarded:
                await self.raw.execute(f"SAVEPOINT {name}")
            try:
                if returns_rows:
                    records = await self.raw.fetch(text, *args)
                    rows = [tuple(record) for record in records]
                    cursor = PgCursor(rows, len(rows) if write else -1)
                elif args:
                    cursor = PgCursor((), _status_count(await self.raw.execute(text, *args)))
                else:
                    # execute() without arguments takes the simple protocol; keep the
                    # extended one so exactly one statement runs, as with parameters.
                    await self.raw.fetch(text)
                    cursor = PgCursor((), -1)
            except BaseException:
                if guarded:
                    await self.raw.execute(f"ROLLBACK TO SAVEPOINT {name}")
                raise
            if guarded:
                await self.raw.execute(f"RELEASE SAVEPOINT {name}")
            return cursor
        except asyncpg.PostgresError as exc:
            neutral = _neutral(exc)
            if neutral is exc:
                raise
            raise neutral from None

    async def _executemany(self, sql: str, rows: list[list[Any]]) -> PgCursor:
        if not rows:
            return PgCursor((), 0)
        text = numbered(sql)
        guarded = self.raw.is_in_transaction()
        name = f"sp{next(self._savepoints)}"
        try:
            if guarded:
                await self.raw.execute(f"SAVEPOINT {name}")
            try:
                await self.raw.executemany(text, rows)
            except BaseException:
                if guarded:
                    await self.raw.execute(f"ROLLBACK TO SAVEPOINT {name}")
                raise
            if guarded:
                await self.raw.execute(f"RELEASE SAVEPOINT {name}")
            return PgCursor((), -1)
        except asyncpg.PostgresError as exc:
            neutral = _neutral(exc)
            if neutral is exc:
                raise
            raise neutral from None
