"""Per-user locks across every instance on PostgreSQL (the :class:`core.ports.UserLocks` of a
fleet): ``pg_try_advisory_lock(NAMESPACE, <user>)``, session-level, on ONE connection of
this process's own.

Why not ``pg_advisory_lock`` on a pooled connection per held lock: a waiter blocks its
connection, so a few hundred users in flight would take a few hundred connections from the
pool the handlers need (and PostgreSQL's ``max_connections``); and asyncpg's pool resets a
connection it gets back with ``pg_advisory_unlock_all()``. Here each lock is taken (or found
busy) by a short statement on a connection of its own, and a busy lock is asked again after a
short, growing pause. Within this process the users' locks are first taken in memory: a
session's advisory locks are re-entrant, so two turns of one user here must not both reach
PostgreSQL.

One connection runs one statement at a time, so the turns of a whole instance would queue for
it (two statements a turn: on a loaded machine each waits for a context switch). The users are
therefore spread over :data:`LANES` connections by their key: one user's lock is always taken
and released on the same one (a session's lock is released only by that session).

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
LANES = 4  # connections per instance for the users' locks (a user always on the same one)


def lock_key(user_id: int) -> int:
    """``user_id`` folded into PostgreSQL's signed 32-bit second key."""
    folded = (user_id ^ (user_id >> 32)) & 0xFFFFFFFF
    return folded - (1 << 32) if folded >= 1 << 31 else folded


class _Lane:
    """One connection of the users' locks, one statement at a time."""

    def __init__(self) -> None:
        self.conn: asyncpg.Connection | None = None
        self.io = asyncio.Lock()


class PostgresUserLocks:
    """One user's turns one at a time across every instance on one PostgreSQL database."""

    def __init__(self, dsn: SecretUrl, *, lanes: int = LANES) -> None:
        self._dsn = dsn
        self._lanes = [_Lane() for _ in range(max(1, lanes))]
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
            lane = self._lanes[key % len(self._lanes)]
            await self._acquire(lane, key)
            try:
                yield
            finally:
                await self._release(lane, key)

    async def _connection(self, lane: _Lane) -> asyncpg.Connection:
        if lane.conn is None or lane.conn.is_closed():
            if lane.conn is not None:
                logger.warning("a user locks' connection was lost: its locks went with it")
            lane.conn = await asyncpg.connect(self._dsn.get())
        return lane.conn

    async def _acquire(self, lane: _Lane, key: int) -> None:
        pause = FIRST_PAUSE
        while True:
            async with lane.io:
                conn = await self._connection(lane)
                taken = await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", NAMESPACE, key)
            if taken:
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, LAST_PAUSE)

    async def _release(self, lane: _Lane, key: int) -> None:
        async with lane.io:
            conn = lane.conn
            if conn is None or conn.is_closed():
                return  # the session ended: PostgreSQL released the lock with it
            try:
                await conn.fetchval("SELECT pg_advisory_unlock($1, $2)", NAMESPACE, key)
            except (asyncpg.PostgresError, OSError) as exc:
                logger.warning("could not release a user lock (%s)", type(exc).__name__)
                self._drop_lane(lane)

    @staticmethod
    def _drop_lane(lane: _Lane) -> None:
        conn, lane.conn = lane.conn, None
        if conn is not None:
            conn.terminate()

    async def _drop(self) -> None:
        """Lose every connection at once (as when this process dies)."""
        for lane in self._lanes:
            self._drop_lane(lane)

    async def aclose(self) -> None:
        """Close the connections (every lock they still held goes with them)."""
        for lane in self._lanes:
            async with lane.io:
                conn, lane.conn = lane.conn, None
            if conn is not None:
                await conn.close()

    def __len__(self) -> int:
        return len(self._here)
