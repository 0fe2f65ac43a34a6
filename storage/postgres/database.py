"""The PostgreSQL database: an asyncpg pool with the same surface as ``storage.database.Database``.

Several bot instances may share one PostgreSQL database, and they keep SQLite's one-writer
contract between them: a write unit of work starts ``BEGIN`` and takes the fleet's writer lock
(``pg_advisory_xact_lock(WRITER_LOCK_KEY)``, released by its commit or rollback), as SQLite's
``BEGIN IMMEDIATE`` serialises the writers of one box; a read-only one starts
``BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`` and sees one snapshot. So the audit hash
chain, unique checks and every check-then-write of core stay safe across instances unchanged.

The DSN may carry a password: it is never in ``repr``, ``str`` or an error message of this
module (errors name the DSN with its credentials masked).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from core.config_values import SecretUrl
from core.errors import StorageError
from storage.migrator import Migration
from storage.postgres.connection import PgConnection, RawConnection
from storage.postgres.migrator import WRITER_LOCK_KEY, migrate
from storage.postgres.unit_of_work import PostgresUnitOfWork, UnitGate
from storage.secrets_repository import ENCRYPTED_COLUMNS, EncryptedColumnSpec

# asyncpg prepares each statement once per connection; the repositories have a few hundred.
_STATEMENT_CACHE = 1024


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """The pool's reset of a connection given back: nothing beyond asyncpg's own rollback of
    a transaction left open (which it always does first).

    asyncpg's default sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``, one
    more round trip per unit of work (a fifth of a read's). Pooled connections carry none of
    it: units of work only BEGIN/COMMIT/ROLLBACK around the repositories' statements (their
    writer lock is a transaction lock, gone with the transaction), and nothing here SETs,
    LISTENs, keeps a cursor or takes a session lock on one: the user locks and
    :meth:`PostgresDatabase.exclusive` hold theirs on connections of their own."""


def _masked(dsn: str) -> str:
    return repr(SecretUrl(dsn))


class PostgresDatabase:
    """Owns the pool; hands out units of work (the surface of ``storage.database.Database``)."""

    def __init__(
        self,
        dsn: str | SecretUrl,
        *,
        min_connections: int = 1,
        max_connections: int = 10,
        encrypted_columns: list[EncryptedColumnSpec] | None = None,
    ) -> None:
        self._dsn = dsn if isinstance(dsn, SecretUrl) else SecretUrl(dsn)
        self._min = min_connections
        self._max = max_connections
        self._pool: asyncpg.Pool | None = None
        self._gate = UnitGate()
        self._encrypted_columns = (
            encrypted_columns if encrypted_columns is not None else ENCRYPTED_COLUMNS
        )

    def __repr__(self) -> str:
        return f"PostgresDatabase({self._dsn!r}, open={self._pool is not None})"

    __str__ = __repr__

    @property
    def dsn(self) -> SecretUrl:
        """The DSN (``.get()`` for the real one, e.g. for pg_dump; masked in ``repr``)."""
        return self._dsn

    @property
    def pool(self) -> asyncpg.Pool:
        """The open pool (for PostgreSQL-only parts: user locks, dumps)."""
        if self._pool is None:
            raise StorageError("the database is not open")
        return self._pool

    async def open(self, *, apply_migrations: bool = True) -> list[Migration]:
        """Connect (a pool) and migrate; return the migrations that ran."""
        if self._pool is not None:
            return []
        try:
            pool = await asyncpg.create_pool(
                self._dsn.get(),
                min_size=self._min,
                max_size=self._max,
                statement_cache_size=_STATEMENT_CACHE,
                reset=_nothing_to_reset,
                server_settings={"application_name": "verzek-guard"},
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise StorageError(
                f"cannot open database {_masked(self._dsn.get())}: {self._scrubbed(exc)}"
            ) from None
        try:
            applied = await self._migrate() if apply_migrations else []
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        return applied

    async def _migrate(self) -> list[Migration]:
        conn = await self._connect()
        try:
            return await migrate(conn)
        finally:
            await conn.close()

    async def _connect(self) -> asyncpg.Connection:
        """One connection outside the pool (migrations, the exclusive writer lock)."""
        try:
            return await asyncpg.connect(self._dsn.get())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise StorageError(
                f"cannot open database {_masked(self._dsn.get())}: {self._scrubbed(exc)}"
            ) from None

    def _scrubbed(self, exc: BaseException) -> str:
        """``exc``'s message with the DSN's password (should it be quoted) masked."""
        text = f"{type(exc).__name__}: {exc}"
        password = self._dsn.password()
        return text.replace(password, "***") if password else text

    async def close(self) -> None:
        """Close the pool (waiting for every unit of work in progress)."""
        async with self._gate.exclusive():
            await self._close_pool()

    async def _close_pool(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """Hold off every unit of work of this instance and every writer of the fleet, e.g. to
        restore a backup.

        The fleet's writer lock is held for the whole block as a session lock on a connection of
        its own (outside the pool), so the writes of other instances wait too. Yields
        ``close()``: once called, this instance's pool is closed. Leaving the block releases the
        lock and (re)opens and migrates the pool. Units of work started meanwhile wait, then
        run on whatever database is in place by then; :meth:`unit_of_work_in_exclusive` runs on
        the lock's own connection.
        """
        async with self._gate.exclusive():
            holder = await self._connect()
            self._holder: asyncpg.Connection | None = holder
            try:
                await holder.execute("SELECT pg_advisory_lock($1)", WRITER_LOCK_KEY)
                yield self._close_pool
            finally:
                self._holder = None
                try:
                    if not holder.is_closed():
                        await holder.close()  # ends the session: its lock goes with it
                finally:
                    if self._pool is None:
                        await self.open()

    async def schema_version(self) -> int:
        """The applied schema version."""
        async with self._gate.shared(), self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
                return 0
            return int(
                await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            )

    def unit_of_work_in_exclusive(self) -> PostgresUnitOfWork:
        """A unit of work for the holder of :meth:`exclusive` (before ``close()``): on the
        connection holding the writer lock, taking no gate."""
        holder = getattr(self, "_holder", None)
        if holder is None:
            raise RuntimeError("unit_of_work_in_exclusive outside exclusive()")
        return PostgresUnitOfWork(
            _Fixed(holder), None, read_only=False, columns=self._encrypted_columns
        )

    def unit_of_work(self, *, read_only: bool = False) -> PostgresUnitOfWork:
        """A new unit of work; use as ``async with db.unit_of_work() as uow``."""
        return PostgresUnitOfWork(
            _Pooled(self), self._gate, read_only=read_only, columns=self._encrypted_columns
        )


class _Pooled:
    """Connections for units of work: taken from the pool, given back after."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def take(self) -> RawConnection:
        return await self._db.pool.acquire()

    async def give_back(self, conn: RawConnection) -> None:
        pool = self._db._pool
        if pool is not None and isinstance(conn, PoolConnectionProxy):
            await pool.release(conn)
        else:  # closed meanwhile (exclusive's close()): nothing to give it back to
            conn.terminate()


class _Fixed:
    """The connection of :meth:`PostgresDatabase.exclusive`: lent, never given back."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def take(self) -> RawConnection:
        return self._conn

    async def give_back(self, conn: RawConnection) -> None:
        return None


def wrap(conn: RawConnection) -> PgConnection:
    """``conn`` as a SqlConnection (for PostgreSQL-only code that holds a raw connection)."""
    return PgConnection(conn)
