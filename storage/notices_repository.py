"""SQL for the outbox of security notices to account owners (``user_notices``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.audit.ports import NoticeRecord
from storage.columns import read_time, stored_time
from storage.sql import SqlConnection, inserted_id

_COLUMNS = (
    "id, created_at, telegram_user_id, account_id, audit_event_id, event_type, details, attempts"
)


def _notice(raw: Any) -> NoticeRecord:
    return NoticeRecord(
        id=int(raw[0]),
        created_at=read_time(raw[1]),
        telegram_user_id=int(raw[2]),
        account_id=int(raw[3]),
        audit_event_id=int(raw[4]),
        event_type=str(raw[5]),
        details=json.loads(raw[6]),
        attempts=int(raw[7]),
    )


class SqliteNoticesRepository:
    """User notices in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def recipients(self, account_id: int, *, since: datetime, limit: int) -> list[int]:
        """Telegram users with a session on the account since ``since``, plus its last one."""
        async with self._conn.execute(
            "SELECT telegram_user_id FROM sessions WHERE account_id = ? AND created_at > ?"
            " GROUP BY telegram_user_id ORDER BY MAX(created_at) DESC LIMIT ?",
            (account_id, stored_time(since), limit),
        ) as cur:
            found = [int(row[0]) for row in await cur.fetchall()]
        async with self._conn.execute(
            "SELECT last_telegram_user_id FROM users WHERE id = ?", (account_id,)
        ) as cur:
            last = await cur.fetchone()
        if last and last[0] is not None and int(last[0]) not in found:
            found.insert(0, int(last[0]))
        return found[:limit]

    async def add(
        self,
        *,
        created_at: datetime,
        telegram_user_id: int,
        account_id: int,
        audit_event_id: int,
        event_type: str,
        details: dict[str, Any],
    ) -> int:
        """Queue a notice, due at once."""
        new_id = await inserted_id(
            self._conn,
            "INSERT INTO user_notices (created_at, telegram_user_id, account_id, audit_event_id,"
            " event_type, details, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                stored_time(created_at),
                telegram_user_id,
                account_id,
                audit_event_id,
                event_type,
                json.dumps(details, sort_keys=True, separators=(",", ":")),
                stored_time(created_at),
            ),
        )
        return new_id

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[NoticeRecord]:
        """Due pending notices, oldest first, each with one more attempt and a lease."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM user_notices WHERE status = 'pending'"  # noqa: S608
            " AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
            (stored_time(now), limit),
        ) as cur:
            due = [_notice(raw) for raw in await cur.fetchall()]
        claimed = []
        for notice in due:
            # Compare-and-set on the attempt count, as for alerts (storage/alerts_repository.py).
            cursor = await self._conn.execute(
                "UPDATE user_notices SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?"
                " AND status = 'pending' AND attempts = ?",
                (stored_time(lease_until), notice.id, notice.attempts),
            )
            if cursor.rowcount == 1:
                claimed.append(NoticeRecord(**{**notice.__dict__, "attempts": notice.attempts + 1}))
        return claimed

    async def mark_sent(self, notice_id: int, *, at: datetime) -> None:
        """Delivered."""
        await self._conn.execute(
            "UPDATE user_notices SET status = 'sent', sent_at = ?, last_error = NULL"
            " WHERE id = ? AND status = 'pending'",
            (stored_time(at), notice_id),
        )

    async def reschedule(self, notice_id: int, *, next_attempt_at: datetime, error: str) -> None:
        """Try again later."""
        await self._conn.execute(
            "UPDATE user_notices SET next_attempt_at = ?, last_error = ? WHERE id = ?"
            " AND status = 'pending'",
            (stored_time(next_attempt_at), error[:200], notice_id),
        )

    async def give_up(self, notice_id: int, *, error: str) -> None:
        """Stop trying."""
        await self._conn.execute(
            "UPDATE user_notices SET status = 'failed', last_error = ? WHERE id = ?"
            " AND status = 'pending'",
            (error[:200], notice_id),
        )
