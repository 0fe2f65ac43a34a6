"""One thread trip per statement: the SQLite :class:`storage.sql.SqlConnection` of a unit of work.

aiosqlite runs the sqlite3 connection in its own thread, and each call is one trip there and
back (a queue put, a wake-up of the event loop, the GIL handed over twice). Its cursor makes a
SELECT three trips (execute, fetchone, close), on the one connection every unit of work of the
process waits for; at a few hundred updates a second those trips were most of what a /me cost
(bench/updates.py). :class:`OneTripConnection` runs the statement and reads its first rows in
ONE trip (:data:`FIRST_ROWS`; a longer result is read on in further trips of that many rows,
so a large table is never held in memory at once), closing the cursor there when it is done.

Same sqlite3 connection, same transaction, same statements in the same order: only the number
of trips changes. Errors are raised by ``execute`` exactly as before (the statement ran in that
trip).
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import aiosqlite

from storage.statement import Statement

FIRST_ROWS = 64  # rows read in the statement's own trip (aiosqlite's iteration chunk too)


class _Read:
    """What one trip brings back: the first rows and the counters."""

    __slots__ = ("cursor", "lastrowid", "rowcount", "rows")

    def __init__(
        self, cursor: sqlite3.Cursor | None, rows: list[Any], n: int, last: int | None
    ) -> None:
        self.cursor, self.rows, self.rowcount, self.lastrowid = cursor, rows, n, last


async def _trip(conn: aiosqlite.Connection, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in the connection's thread (aiosqlite's own queue, in order with every
    other call on that connection)."""
    run: Callable[..., Awaitable[Any]] = conn._execute  # aiosqlite leaves it untyped
    return await run(fn, *args)


def _run(raw: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Read:
    """In aiosqlite's thread: the statement, its first rows; the cursor kept only if more."""
    cursor = raw.executemany(sql, parameters) if many else raw.execute(sql, parameters)
    rows = cursor.fetchmany(FIRST_ROWS) if cursor.description is not None else []
    if len(rows) == FIRST_ROWS:
        return _Read(cursor, rows, cursor.rowcount, cursor.lastrowid)
    read = _Read(None, rows, cursor.rowcount, cursor.lastrowid)
    cursor.close()
    return read


def _more(cursor: sqlite3.Cursor, size: int | None) -> tuple[list[Any], bool]:
    """In aiosqlite's thread: the next rows (all with ``size=None``); True when done."""
    rows = cursor.fetchall() if size is None else cursor.fetchmany(size)
    done = size is None or len(rows) < size
    if done:
        cursor.close()
    return rows, done


class OneTripCursor:
    """The rows of one statement, read ahead in the trip that ran it."""

    def __init__(self, conn: aiosqlite.Connection, read: _Read) -> None:
        self._conn = conn
        self._rows: deque[Any] = deque(read.rows)
        self._cursor = read.cursor
        self._rowcount = read.rowcount
        self.lastrowid = read.lastrowid

    @property
    def rowcount(self) -> int:
        """Rows the statement changed (as sqlite3 counts them)."""
        return self._rowcount

    async def _fill(self, size: int | None) -> None:
        if self._cursor is None:
            return
        rows, done = await _trip(self._conn, _more, self._cursor, size)
        self._rows.extend(rows)
        if done:
            self._rowcount = self._cursor.rowcount
            self._cursor = None

    async def fetchone(self) -> Any:
        """The next row, or None."""
        if not self._rows:
            await self._fill(FIRST_ROWS)
        return self._rows.popleft() if self._rows else None

    async def fetchall(self) -> list[Any]:
        """Every row left."""
        await self._fill(None)
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        """Forget what is left (closing the sqlite3 cursor when rows were left unread)."""
        self._rows.clear()
        if self._cursor is not None:
            cursor, self._cursor = self._cursor, None
            await _trip(self._conn, cursor.close)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while (row := await self.fetchone()) is not None:
            yield row


async def _run_one_trip(
    conn: aiosqlite.Connection, sql: str, parameters: Iterable[Any], many: bool
) -> OneTripCursor:
    read = await _trip(conn, _run, conn._conn, sql, parameters, many)
    return OneTripCursor(conn, read)


class OneTripConnection:
    """An aiosqlite connection seen through :class:`storage.sql.SqlConnection`, one trip per
    statement (see the module docstring)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    def execute(
        self, sql: str, parameters: Iterable[Any] | None = None, /
    ) -> Statement[OneTripCursor]:
        """Run ``sql`` (and read its first rows) in one trip to the connection's thread."""
        args = () if parameters is None else parameters
        return Statement(lambda: _run_one_trip(self.conn, sql, args, False))

    def executemany(
        self, sql: str, parameters: Iterable[Iterable[Any]], /
    ) -> Statement[OneTripCursor]:
        """Run ``sql`` once per parameter set, in one trip."""
        return Statement(lambda: _run_one_trip(self.conn, sql, parameters, True))
