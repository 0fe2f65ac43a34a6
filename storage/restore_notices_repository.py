"""The outbox of "a restore logged you out" notices (see migration 0011)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from core.audit.ports import RestoreNotice
from storage.columns import read_time, stored_time
from storage.sql import SqlConnection


class SqliteRestoreNoticesRepository:
    """SQL of ``restore_notices``; the unit of work owns the transaction."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def add(
        self, telegram_user_ids: Iterable[int], *, archive_created_at: datetime, at: datetime
    ) -> None:
        """Queue one notice per user (a later restore replaces an undelivered one)."""
        await self._conn.executemany(
            "INSERT INTO restore_notices"
            " (telegram_user_id, archive_created_at, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (telegram_user_id) DO UPDATE SET"
            " archive_created_at = excluded.archive_created_at,"
            " created_at = excluded.created_at, attempts = 0",
            [
                (user, stored_time(archive_created_at), stored_time(at))
                for user in telegram_user_ids
            ],
        )

    async def due(self, limit: int) -> list[RestoreNotice]:
        """The oldest undelivered notices."""
        async with self._conn.execute(
            "SELECT telegram_user_id, archive_created_at, attempts FROM restore_notices"
            " ORDER BY created_at, telegram_user_id LIMIT ?",
            (limit,),
        ) as cur:
            return [
                RestoreNotice(int(row[0]), read_time(row[1]), int(row[2]))
                for row in await cur.fetchall()
            ]

    async def remove(self, telegram_user_id: int) -> None:
        """Delivered, or given up."""
        await self._conn.execute(
            "DELETE FROM restore_notices WHERE telegram_user_id = ?", (telegram_user_id,)
        )

    async def failed(self, telegram_user_id: int) -> None:
        """One more failed attempt."""
        await self._conn.execute(
            "UPDATE restore_notices SET attempts = attempts + 1 WHERE telegram_user_id = ?",
            (telegram_user_id,),
        )
