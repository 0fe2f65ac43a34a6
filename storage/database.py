"""The SQLite database: one file, WAL, foreign keys on, busy timeout, migrations on open.

One aiosqlite connection serves the process. Units of work take an asyncio lock for their whole
transaction, so transactions of concurrent tasks never interleave on the connection; writers use
``BEGIN IMMEDIATE`` so the SQLite write lock (which also guards against another process such as
the CLI) is taken up front instead of failing half-way with SQLITE_BUSY. Writing units talk to it
one thread trip per statement (storage/sqlite_connection.py); read-only units, under the same
lock, read through a second, query-only connection in the event loop (storage/inline_reads.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from core.errors import StorageError
from storage.inline_reads import InlineConnection, open_reader
from storage.migrator import Migration, current_version, migrate
from storage.secrets_repository import ENCRYPTED_COLUMNS, EncryptedColumnSpec
from storage.sqlite_connection import OneTripConnection
from storage.unit_of_work import HeldLock, SqliteUnitOfWork, TransactionLock


class Database:
    """Owns the connection; hands out units of work."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 10_000,
        encrypted_columns: list[EncryptedColumnSpec] | None = None,
    ) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: aiosqlite.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._lock = TransactionLock()
        self._encrypted_columns = (
            encrypted_columns if encrypted_columns is not None else ENCRYPTED_COLUMNS
        )

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r}, open={self._conn is not None})"

    async def open(self, *, apply_migrations: bool = True) -> list[Migration]:
        """Open (creating the file and its folder if needed) and migrate; return what ran."""
        if self._conn is not None:
            return []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(self.path, isolation_level=None)
        except OSError as exc:
            raise StorageError(f"cannot open database {self.path}: {exc.strerror}") from None
        try:
            await conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
                row = await cursor.fetchone()
            if not row or str(row[0]).lower() != "wal":
                raise StorageError(f"cannot switch {self.path} to WAL mode")
            await conn.execute("PRAGMA foreign_keys = ON")
            # FULL: a commit the bot acknowledged survives a power cut, not only a crash.
            await conn.execute("PRAGMA synchronous = FULL")
            applied = await migrate(conn) if apply_migrations else []
            self._reader = open_reader(self.path, self._busy_timeout_ms)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return applied

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def close(self) -> None:
        """Close the connection (waiting for any unit of work in progress)."""
        async with self._lock:
            self._close_reader()
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """Hold off every unit of work, e.g. to replace the file (restoring a backup).

        Yields ``close()``: once called, the connection is closed and the file may be replaced.
        Leaving the block (re)opens and migrates the database, also when it could not be opened
        before (a damaged file being restored over). Units of work started meanwhile wait, then
        run on whatever file is in place by then.
        """
        async with self._lock:

            async def close() -> None:
                self._close_reader()
                if self._conn is not None:
                    await self._conn.close()
                    self._conn = None

            try:
                yield close
            finally:
                if self._conn is None:
                    await self.open()

    async def schema_version(self) -> int:
        """The applied schema version."""
        async with self._lock:
            return await current_version(self._connection())

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StorageError("the database is not open")
        return self._conn

    def _writer(self) -> OneTripConnection:
        return OneTripConnection(self._connection())

    def _read_connection(self) -> InlineConnection:
        if self._reader is None:
            raise StorageError("the database is not open")
        return InlineConnection(self._reader)

    def unit_of_work_in_exclusive(self) -> SqliteUnitOfWork:
        """A unit of work for the holder of :meth:`exclusive` (before ``close()``): it takes
        no lock, since ``exclusive`` already holds off every other unit of work."""
        return SqliteUnitOfWork(
            self._writer, HeldLock(), read_only=False, columns=self._encrypted_columns
        )

    def unit_of_work(self, *, read_only: bool = False) -> SqliteUnitOfWork:
        """A new unit of work; use as ``async with db.unit_of_work() as uow``."""
        connection = self._read_connection if read_only else self._writer
        return SqliteUnitOfWork(
            connection, self._lock, read_only=read_only, columns=self._encrypted_columns
        )
