"""SQL for the owner's notice choices (``notice_preferences``, see core/accounts/preferences.py)."""

from __future__ import annotations

from datetime import datetime

from storage.columns import stored_time
from storage.sql import SqlConnection


class SqlitePreferencesRepository:
    """The ``notice_preferences`` table."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def choices(self, account_id: int) -> dict[str, bool]:
        """Kind → on/off for the kinds the owner changed."""
        async with self._conn.execute(
            "SELECT kind, enabled FROM notice_preferences WHERE account_id = ?", (account_id,)
        ) as cur:
            return {str(kind): bool(enabled) for kind, enabled in await cur.fetchall()}

    async def choose(self, account_id: int, kind: str, enabled: bool, at: datetime) -> None:
        """Insert or replace the choice for one kind."""
        await self._conn.execute(
            "INSERT INTO notice_preferences (account_id, kind, enabled, changed_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (account_id, kind)"
            " DO UPDATE SET enabled = excluded.enabled, changed_at = excluded.changed_at",
            (account_id, kind, int(enabled), stored_time(at)),
        )
