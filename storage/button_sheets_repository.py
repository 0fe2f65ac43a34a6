"""SQL for ``button_sheets`` (migration 0023): one row per token hash, sealed sheets only;
opening them is bot/button_sheets.py's job. Portable SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

from core.ports import StoredButtonSheet
from storage.sql import SqlConnection


class SqliteButtonSheetsRepository:
    """What button tokens stand for, shared by every instance."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def find(self, store: str, token_hash: str) -> StoredButtonSheet | None:
        """The sheet holding this token, if any."""
        async with self._conn.execute(
            "SELECT sheet_id, telegram_user_id, expires_at, sealed FROM button_sheets"
            " WHERE token_hash = ? AND store = ?",
            (token_hash, store),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        sheet_id = str(row[0])
        async with self._conn.execute(
            "SELECT token_hash FROM button_sheets WHERE sheet_id = ? ORDER BY token_hash",
            (sheet_id,),
        ) as cursor:
            hashes = tuple(str(r[0]) for r in await cursor.fetchall())
        return StoredButtonSheet(store, sheet_id, int(row[1]), str(row[2]), str(row[3]), hashes)

    async def add(self, sheet: StoredButtonSheet, *, keep: int) -> None:
        """Store a sheet as its user's newest; forget their oldest beyond ``keep``."""
        async with self._conn.execute(
            "SELECT COALESCE(MAX(created), 0) FROM button_sheets"
            " WHERE store = ? AND telegram_user_id = ?",
            (sheet.store, sheet.telegram_user_id),
        ) as cursor:
            row = await cursor.fetchone()
        created = int(row[0]) + 1 if row is not None else 1
        for token_hash in sheet.token_hashes:
            await self._conn.execute(
                "INSERT INTO button_sheets (token_hash, store, sheet_id, telegram_user_id,"
                " created, expires_at, sealed) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (token_hash) DO NOTHING",
                (
                    token_hash,
                    sheet.store,
                    sheet.sheet_id,
                    sheet.telegram_user_id,
                    created,
                    sheet.expires_at,
                    sheet.sealed,
                ),
            )
        async with self._conn.execute(
            "SELECT DISTINCT sheet_id, created FROM button_sheets"
            " WHERE store = ? AND telegram_user_id = ? ORDER BY created DESC",
            (sheet.store, sheet.telegram_user_id),
        ) as cursor:
            held = [str(r[0]) for r in await cursor.fetchall()]
        for old in held[keep:]:
            await self.drop(old)

    async def drop(self, sheet_id: str) -> None:
        """Forget every token of a sheet."""
        await self._conn.execute("DELETE FROM button_sheets WHERE sheet_id = ?", (sheet_id,))

    async def sweep(self, now: str) -> int:
        """Forget every sheet expired at ``now``."""
        cursor = await self._conn.execute("DELETE FROM button_sheets WHERE expires_at <= ?", (now,))
        return max(cursor.rowcount, 0)
