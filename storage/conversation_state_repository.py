"""SQL for ``conversation_state``: sealed rows only; opening them is bot/persistence.py's job."""

from __future__ import annotations

from core.ports import StoredConversationState
from storage.sql import SqlConnection


class SqliteConversationStateRepository:
    """Conversation state in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def load(self, kind: str) -> list[StoredConversationState]:
        """Every row of one kind."""
        async with self._conn.execute(
            "SELECT kind, name, key, sealed FROM conversation_state WHERE kind = ?"
            " ORDER BY name, key",
            (kind,),
        ) as cur:
            rows = await cur.fetchall()
        return [StoredConversationState(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    async def put(self, row: StoredConversationState, *, at: str) -> None:
        """Insert or replace a row."""
        await self._conn.execute(
            "INSERT INTO conversation_state (kind, name, key, sealed, updated_at)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (kind, name, key) DO UPDATE SET sealed = excluded.sealed,"
            " updated_at = excluded.updated_at",
            (row.kind, row.name, row.key, row.sealed, at),
        )

    async def delete(self, kind: str, name: str, key: str) -> None:
        """Forget a row (no error when there is none)."""
        await self._conn.execute(
            "DELETE FROM conversation_state WHERE kind = ? AND name = ? AND key = ?",
            (kind, name, key),
        )
