"""SQL for ``handled_updates`` (migration 0024): the update ids a webhook instance handled, so
a redelivered one is dropped on any instance (bot/acks.py). Portable SQL (SQLite and PostgreSQL).
"""

from __future__ import annotations

from storage.sql import SqlConnection


class SqliteHandledUpdatesRepository:
    """Which Telegram updates were handled already, shared by every instance."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def handled(self, update_id: int) -> bool:
        """Whether this update was handled (and recorded) before."""
        async with self._conn.execute(
            "SELECT 1 FROM handled_updates WHERE update_id = ?", (update_id,)
        ) as cursor:
            return await cursor.fetchone() is not None

    async def record(self, update_id: int, at: str) -> None:
        """Mark the update handled at ``at`` (a second mark of the same id changes nothing)."""
        await self._conn.execute(
            "INSERT INTO handled_updates (update_id, handled_at) VALUES (?, ?)"
            " ON CONFLICT (update_id) DO NOTHING",
            (update_id, at),
        )

    async def sweep(self, before: str) -> int:
        """Forget the updates handled before ``before``; how many."""
        cursor = await self._conn.execute(
            "DELETE FROM handled_updates WHERE handled_at < ?", (before,)
        )
        return max(cursor.rowcount, 0)
