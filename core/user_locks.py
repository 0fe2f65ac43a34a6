"""Per-user locks inside one process (the :class:`core.ports.UserLocks` of a SQLite bot).

One SQLite file is one bot process: the update processor already orders each user's updates
(bot/update_processor.py), so holding the lock there costs one uncontended asyncio lock.
``shared=True`` is for two Applications in one process over one database (the tests'
"two instances"): then the lock is the only thing between them, and each turn reads the
user's conversation state from the database as a PostgreSQL fleet does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager


class InProcessUserLocks:
    """FIFO asyncio locks per user, held only while someone waits or holds them."""

    def __init__(self, *, shared: bool = False) -> None:
        self._shared = shared
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @property
    def shared(self) -> bool:
        """Whether other Applications serve the same users (see the module)."""
        return self._shared

    def hold(self, user_id: int) -> AbstractAsyncContextManager[None]:
        """Wait for ``user_id``'s lock; release it on leaving the block."""
        return self._hold(user_id)

    @asynccontextmanager
    async def _hold(self, user_id: int) -> AsyncIterator[None]:
        lock, users = self._locks.get(user_id, (asyncio.Lock(), 0))
        self._locks[user_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[user_id]
            if users == 1:
                del self._locks[user_id]
            else:
                self._locks[user_id] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
