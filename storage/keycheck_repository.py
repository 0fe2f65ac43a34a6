"""SQL for the key check: the one row saying which master key this database belongs to."""

from __future__ import annotations

from datetime import datetime

from core.errors import StorageError
from storage.columns import stored_time
from storage.sql import MISSING_TABLE_ERRORS, SqlConnection, is_missing_table


class SqliteKeyCheckRepository:
    """Reads and writes the ``key_check`` row (migration 0008)."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def get(self) -> str | None:
        """The stored check, or None (none written yet, or a schema from before the table)."""
        try:
            async with self._conn.execute("SELECT mac FROM key_check WHERE id = 1") as cursor:
                row = await cursor.fetchone()
        except MISSING_TABLE_ERRORS as exc:
            if is_missing_table(exc):
                return None
            raise
        return None if row is None else str(row[0])

    async def put(self, mac: str, written_at: datetime) -> None:
        """Store (or replace) the check."""
        try:
            await self._conn.execute(
                "INSERT INTO key_check (id, mac, written_at) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET "
                "mac = excluded.mac, written_at = excluded.written_at",
                (mac, stored_time(written_at)),
            )
        except MISSING_TABLE_ERRORS as exc:
            if is_missing_table(exc):
                raise StorageError("this database has no key_check table: migrate it") from None
            raise
