"""SQL for the admin's /stats numbers (each an index-backed count)."""

from __future__ import annotations

from datetime import datetime

from core.audit.ports import PlatformStats
from storage.columns import stored_time
from storage.sql import SqlConnection


class SqliteStatsRepository:
    """Platform-wide counts."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def snapshot(self, *, now: datetime, day_start: datetime) -> PlatformStats:
        """Users, licenses active at ``now``, pending payments, alerts since ``day_start``."""
        async with self._conn.execute(
            # Deleted accounts (closed_at set, rows kept for accounting) are not users any more.
            "SELECT (SELECT COUNT(*) FROM users WHERE closed_at IS NULL),"
            " (SELECT COUNT(DISTINCT account_id) FROM licenses"
            "   WHERE starts_at <= ? AND ends_at > ?"
            "   AND account_id IN (SELECT id FROM users WHERE closed_at IS NULL)),"
            " (SELECT COUNT(*) FROM payments WHERE status = 'pending'),"
            " (SELECT COUNT(*) FROM alerts WHERE created_at >= ?)",
            (stored_time(now), stored_time(now), stored_time(day_start)),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return PlatformStats(int(row[0]), int(row[1]), int(row[2]), int(row[3]))
