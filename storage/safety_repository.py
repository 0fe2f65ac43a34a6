"""SQL for platform-wide safety switches (``safety_state``), such as the kill switch."""

from __future__ import annotations

from core.safety.ports import SafetyRecord
from storage.columns import read_time, stored_time
from storage.sql import SqlConnection


class SqliteSafetyRepository:
    """Safety switches in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def get(self, name: str) -> SafetyRecord | None:
        """The switch's state; None when it was never set."""
        async with self._conn.execute(
            "SELECT name, active, reason, changed_at, changed_by_account, changed_by_telegram"
            " FROM safety_state WHERE name = ?",
            (name,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return SafetyRecord(
            str(row[0]), bool(row[1]), str(row[2]), read_time(row[3]), row[4], row[5]
        )

    async def put(self, record: SafetyRecord) -> None:
        """Store the switch's new state (insert or replace)."""
        await self._conn.execute(
            "INSERT INTO safety_state (name, active, reason, changed_at, changed_by_account,"
            " changed_by_telegram) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET active = excluded.active,"
            " reason = excluded.reason, changed_at = excluded.changed_at,"
            " changed_by_account = excluded.changed_by_account,"
            " changed_by_telegram = excluded.changed_by_telegram",
            (
                record.name,
                int(record.active),
                record.reason,
                stored_time(record.changed_at),
                record.changed_by_account,
                record.changed_by_telegram,
            ),
        )
