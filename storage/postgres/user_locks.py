"""Per-user locks across every instance on PostgreSQL (the :class:`core.ports.UserLocks` of a
fleet): ``pg_try_advisory_lock(NAMESPACE, <user>)``, session-level, on ONE connection of
this process's own.

Why not ``pg_advisory_lock`` on a pooled connection per held lock: a waiter blocks its
connection, so a few hundred users in flight would take a few hundred connections from the
pool the handlers need (and PostgreSQL's ``max_connections``); and asyncpg's pool resets a
connection it gets back with ``pg_advisory_unlock_all()``. Here each lock is taken (or found
busy) by a short statement on one connection, and a busy lock is asked again after a short,
growing pause. Within this process the users' locks are first taken in memory: a session's
advisory locks are re-entrant, so two turns of one user here must not both reach PostgreSQL.

Two users whose ids fold to the same 32-bit key merely wait for each other. A lost connection
releases every lock it held (PostgreSQL ends the session): logged, and the next turn
reconnects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg

from core.config_values import SecretUrl
from core.user_locks import InProcessUserLocks

logger = logging.getLogger(__name__)

NAMESPACE = 0x56475531  # "VGU1": the first key of every user lock (the writer lock is one bigint)
FIRST_PAUSE = 0.002  # seconds before a busy lock is asked again; doubles up to LAST_PAUSE
LAST_PAUSE = 0.05


def lock_key(user_id: int) -> int:
    """``user_id`` folded into PostgreSQL's signed 32-bit second key."""
    folded = (user_id ^ (user_id >> 32)) & 0xFFFFFFFF
    return folded - (1 << 32) if folded >= 1 << 31 else folded


class PostgresUserLocks:
    """One user's turns one at a time across every instance on one PostgreSQL database."""

    def __init__(self, dsn: SecretUrl) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._io = asyncio.Lock()  # one statement at a time on the connection
        self._here = InProcessUserLocks(shared=True)

    @property
    def shared(self) -> bool:
        """Other instances serve the same users."""
        return True

    def hold(self, user_id: int) -> AbstractAsyncContextManager[None]:
        """Wait for ``user_id``'s lock (here, then across the fleet); release on leaving."""
        return self._hold(user_id)

    @asynccontextmanager
    async def _hold(self, user_id: int) -> AsyncIterator[None]:
        async with self._here.hold(user_id):
            key = lock_key(user_id)
            await self._acquire(key)
            try:
                yield
            finally:
                await self._release(key)

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            if self._conn is not None:
                logger.warning("the user locks' connection was lost: its locks went with it")
            self._conn = await asyncpg.connect(self._dsn.get())
        return self._conn

    async def _acquire(self, key: int) -> None:
        pause = FIRST_PAUSE
        while True:
            async with self._io:
                conn = await self._connection()
                taken = await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", NAMESPACE, key)
            if taken:
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, LAST_PAUSE)

    async def _release(self, key: int) -> None:
        async with self._io:
            conn = self._conn
            if conn is None or conn.is_closed():
                return  # the session ended: PostgreSQL released the lock with it
            try:
                await conn.fetchval("SELECT pg_advisory_unlock($1, $2)", NAMESPACE, key)
            except (asyncpg.PostgresError, OSError) as exc:
                logger.warning("could not release a user lock (%s)", type(exc).__name__)
                await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def aclose(self) -> None:
        """Close the connection (every lock it still held goes with it)."""
        async with self._io:
            conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    def __len__(self) -> int:
        return len(self._here)
