"""SQL for per-account security stamps and cool-down changes (migration 0008)."""

from __future__ import annotations

from datetime import datetime

from core.accounts.ports import SecurityState
from storage.columns import read_time_or_none, stored_time
from storage.sql import SqlConnection


class SqliteSecurityRepository:
    """The ``account_security`` table."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def get(self, account_id: int) -> SecurityState:
        """The account's state; stamp '' when no row exists yet."""
        async with self._conn.execute(
            "SELECT stamp, stamp_reason, changed_at, change_kind FROM account_security"
            " WHERE account_id = ?",
            (account_id,),
        ) as cur:
            row = await cur.fetchone()
        if not row:
            return SecurityState("", "", None, None)
        return SecurityState(row[0], row[1], read_time_or_none(row[2]), row[3])

    async def replace_stamp(self, account_id: int, stamp: str, reason: str, at: datetime) -> None:
        """Give the account a new stamp."""
        await self._conn.execute(
            "INSERT INTO account_security (account_id, stamp, stamp_reason, stamp_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET"
            " stamp = excluded.stamp, stamp_reason = excluded.stamp_reason,"
            " stamp_at = excluded.stamp_at",
            (account_id, stamp, reason, stored_time(at)),
        )

    async def record_change(self, account_id: int, kind: str, at: datetime) -> None:
        """Remember a change that starts the withdrawal cool-down."""
        await self._conn.execute(
            "INSERT INTO account_security"
            " (account_id, stamp, stamp_reason, stamp_at, changed_at, change_kind)"
            " VALUES (?, '', '', ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET"
            " changed_at = excluded.changed_at, change_kind = excluded.change_kind",
            (account_id, stored_time(at), stored_time(at), kind),
        )
