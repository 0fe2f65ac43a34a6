"""PostgreSQL implementation of core's UnitOfWork: one transaction on one pooled connection.

A write unit starts ``BEGIN`` and takes the fleet's writer lock (``pg_advisory_xact_lock``), a
read-only one starts ``BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY``: see
storage/postgres/database.py. Leaving without commit rolls back, as on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol, Self

import asyncpg

from storage.postgres.connection import PgConnection, RawConnection
from storage.postgres.migrator import WRITER_LOCK_KEY
from storage.secrets_repository import EncryptedColumnSpec
from storage.unit_of_work import UnitOfWorkRepositories

_BEGIN_WRITE = f"BEGIN; SELECT pg_advisory_xact_lock({int(WRITER_LOCK_KEY)})"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


class ConnectionSource(Protocol):
    async def take(self) -> RawConnection: ...

    async def give_back(self, conn: RawConnection) -> None: ...


class UnitGate:
    """This process's side of the units of work of one database.

    - Refuses a unit opened inside another in the same task, as SQLite's lock does (here it
      would deadlock on the writer lock, or starve the pool).
    - Lets one write unit of this process at a time wait for the fleet's writer lock, so the
      others wait here instead of each holding a pooled connection meanwhile.
    - :meth:`exclusive` holds off every unit (closing, restoring).
    """

    def __init__(self) -> None:
        self._holders: set[asyncio.Task[object]] = set()
        self._active = 0
        self._closed_to_new = False
        self._changed = asyncio.Condition()
        self._writer = asyncio.Lock()

    async def enter(self, *, write: bool) -> None:
        """Start a unit (waiting while :meth:`exclusive` holds the gate)."""
        task = asyncio.current_task()
        if task is not None and task in self._holders:
            raise RuntimeError("a unit of work was opened inside another one in the same task")
        async with self._changed:
            await self._changed.wait_for(lambda: not self._closed_to_new)
            self._active += 1
        if task is not None:
            self._holders.add(task)
        if write:
            try:
                await self._writer.acquire()
            except BaseException:
                await self.leave(write=False)
                raise

    async def leave(self, *, write: bool) -> None:
        """End a unit started with :meth:`enter`."""
        if write:
            self._writer.release()
        task = asyncio.current_task()
        if task is not None:
            self._holders.discard(task)
        async with self._changed:
            self._active -= 1
            self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Like a read-only unit, for a short read outside one (schema_version)."""
        await self.enter(write=False)
        try:
            yield
        finally:
            await self.leave(write=False)

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """No unit runs while this is held; units started meanwhile wait for its end."""
        async with self._changed:
            await self._changed.wait_for(lambda: not self._closed_to_new)
            self._closed_to_new = True
            await self._changed.wait_for(lambda: self._active == 0)
        try:
            yield
        finally:
            async with self._changed:
                self._closed_to_new = False
                self._changed.notify_all()


class PostgresUnitOfWork(UnitOfWorkRepositories):
    """``async with uow: ...; await uow.commit()`` — leaving without commit rolls back."""

    def __init__(
        self,
        source: ConnectionSource,
        gate: UnitGate | None,
        *,
        read_only: bool,
        columns: list[EncryptedColumnSpec],
    ) -> None:
        self._source = source
        self._gate = gate
        self._read_only = read_only
        self._columns = columns
        self._raw: RawConnection | None = None
        self._open = False

    async def __aenter__(self) -> Self:
        write = not self._read_only
        if self._gate is not None:
            await self._gate.enter(write=write)
        try:
            raw = await self._source.take()
            try:
                await raw.execute(_BEGIN_READ if self._read_only else _BEGIN_WRITE)
            except BaseException:
                await self._discard(raw)
                raise
        except BaseException:
            if self._gate is not None:
                await self._gate.leave(write=write)
            raise
        self._raw = raw
        self._open = True
        self._bind(PgConnection(raw), self._columns)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raw, self._raw = self._raw, None
        try:
            if self._open:
                await self.rollback(raw)
            if raw is not None:
                await self._source.give_back(raw)
        except BaseException:
            if raw is not None:
                raw.terminate()
            raise
        finally:
            if self._gate is not None:
                await self._gate.leave(write=not self._read_only)

    async def commit(self) -> None:
        """Commit the transaction; the unit is finished afterwards."""
        if not self._open or self._raw is None:
            raise RuntimeError("this unit of work is not open")
        self._open = False
        await self._raw.execute("COMMIT")

    async def rollback(self, raw: RawConnection | None = None) -> None:
        """Undo the transaction; the unit is finished afterwards."""
        raw = raw if raw is not None else self._raw
        if self._open and raw is not None:
            self._open = False
            await raw.execute("ROLLBACK")

    async def _discard(self, raw: RawConnection) -> None:
        """Give back a connection whose BEGIN failed (terminated if it is broken)."""
        if raw.is_in_transaction():
            with contextlib.suppress(asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
                await raw.execute("ROLLBACK")
        await self._source.give_back(raw)
