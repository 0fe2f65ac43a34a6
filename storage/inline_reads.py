"""Read-only units of work on a second SQLite connection, run in the event loop itself.

Every statement through aiosqlite is a trip to its thread and back: a queue put, a thread
wake-up, the GIL handed over (waiting up to the 5 ms switch interval while the loop is busy
with other updates), a self-pipe write to wake the loop. The reads of an ordinary update
(/me: the gate's presence, the account's overview) are a few index lookups of microseconds
each; the trips around them were most of what the update cost, and they were taken on the one
connection every other update waits for (bench/updates.py).

:class:`InlineConnection` is the :class:`storage.sql.SqlConnection` of a read-only unit of
work: a plain ``sqlite3`` connection to the same file, opened by :class:`storage.database.
Database` next to its aiosqlite one, with ``PRAGMA query_only`` (a read-only unit cannot write,
as on PostgreSQL), used only from the event loop's thread. Units of work still take the
database's one lock, so a read never overlaps a write transaction of this process and
``Database.exclusive()`` (restore) holds reads off as before. WAL lets it read while another
process (the CLI) writes. A read-only unit yields to the loop once, before it takes the lock
(:class:`storage.unit_of_work.SqliteUnitOfWork`), so other updates interleave with a read as
they did; its statements then run back to back, so no other task ever waits for the lock
behind a read (only behind a write). A long result yields again every :data:`YIELD_EVERY`
rows, so a large scan (the audit chain) does not hold up other updates' network work.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from storage.statement import Statement

YIELD_EVERY = 256  # rows read between two turns of the event loop


def open_reader(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """The read connection: autocommit (transactions are explicit), query_only, the writer's
    pragmas otherwise. A WAL reader meets a busy file only while another connection recovers
    or resets the WAL, a moment."""
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute("PRAGMA query_only = ON")
    except BaseException:
        raw.close()
        raise
    return raw


class InlineCursor:
    """The rows of one statement, read from the sqlite3 cursor as they are asked for."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor: sqlite3.Cursor | None = cursor
        self.lastrowid = cursor.lastrowid
        self._rowcount = cursor.rowcount
        self._read = 0

    @property
    def rowcount(self) -> int:
        """As sqlite3 counts it (-1 for a SELECT)."""
        return self._rowcount

    async def _turn(self, rows: int) -> None:
        before, self._read = self._read, self._read + rows
        if before // YIELD_EVERY != self._read // YIELD_EVERY:
            await asyncio.sleep(0)

    async def fetchone(self) -> Any:
        """The next row, or None."""
        if self._cursor is None:
            return None
        row = self._cursor.fetchone()
        await self._turn(1)
        return row

    async def fetchall(self) -> list[Any]:
        """Every row left (yielding to the loop between chunks)."""
        rows: list[Any] = []
        while self._cursor is not None:
            chunk = self._cursor.fetchmany(YIELD_EVERY)
            rows += chunk
            if len(chunk) < YIELD_EVERY:
                break
            await self._turn(len(chunk))
        return rows

    async def close(self) -> None:
        """Close the sqlite3 cursor."""
        if self._cursor is not None:
            cursor, self._cursor = self._cursor, None
            cursor.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while (row := await self.fetchone()) is not None:
            yield row


async def _run_inline(
    raw: sqlite3.Connection, sql: str, parameters: Any, many: bool
) -> InlineCursor:
    # No turn of the loop here: the unit yielded once before taking the lock
    # (storage/unit_of_work.py), and its statements then run back to back.
    run = raw.executemany if many else raw.execute
    return InlineCursor(run(sql, parameters))


class InlineConnection:
    """A sqlite3 connection seen through :class:`storage.sql.SqlConnection`, in the loop."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def execute(
        self, sql: str, parameters: Iterable[Any] | None = None, /
    ) -> Statement[InlineCursor]:
        """Run ``sql`` now, in this thread (it takes microseconds: an index lookup)."""
        args = () if parameters is None else parameters
        return Statement(lambda: _run_inline(self.raw, sql, args, False))

    def executemany(
        self, sql: str, parameters: Iterable[Iterable[Any]], /
    ) -> Statement[InlineCursor]:
        """Run ``sql`` once per parameter set."""
        return Statement(lambda: _run_inline(self.raw, sql, parameters, True))
