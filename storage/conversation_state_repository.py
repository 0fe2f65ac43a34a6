"""SQL for ``conversation_state``: sealed rows only; opening them is bot/persistence.py's job."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.ports import StoredConversationState
from storage.sql import SqlConnection

_COLUMNS = "SELECT kind, name, key, sealed, user_id FROM conversation_state"


def _rows(rows: Iterable[Any]) -> list[StoredConversationState]:
    return [
        StoredConversationState(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(str(r[4])))
        for r in rows
    ]


class SqliteConversationStateRepository:
    """Conversation state in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def load(self, kind: str) -> list[StoredConversationState]:
        """Every row of one kind."""
        async with self._conn.execute(
            f"{_COLUMNS} WHERE kind = ? ORDER BY name, key", (kind,)
        ) as cur:
            return _rows(await cur.fetchall())

    async def load_user(self, user_id: int) -> list[StoredConversationState]:
        """Every row of one user, of both kinds."""
        async with self._conn.execute(
            f"{_COLUMNS} WHERE user_id = ? ORDER BY kind, name, key", (user_id,)
        ) as cur:
            return _rows(await cur.fetchall())

    async def put(self, row: StoredConversationState, *, at: str) -> None:
        """Insert or replace a row."""
        await self._conn.execute(
            "INSERT INTO conversation_state (kind, name, key, sealed, updated_at, user_id)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (kind, name, key) DO UPDATE SET sealed = excluded.sealed,"
            " updated_at = excluded.updated_at, user_id = excluded.user_id",
            (row.kind, row.name, row.key, row.sealed, at, row.user_id),
        )

    async def delete(self, kind: str, name: str, key: str) -> None:
        """Forget a row (no error when there is none)."""
        await self._conn.execute(
            "DELETE FROM conversation_state WHERE kind = ? AND name = ? AND key = ?",
            (kind, name, key),
        )
