"""SQL for sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.accounts.ports import EndReason, SessionRecord
from storage.columns import read_time, read_time_or_none, stored_time
from storage.sql import SqlConnection, inserted_id

_COLUMNS = "id, account_id, telegram_user_id, created_at, last_seen_at, expires_at, ended_at"


def _session(row: Any) -> SessionRecord:
    return SessionRecord(
        id=row[0],
        account_id=row[1],
        telegram_user_id=row[2],
        created_at=read_time(row[3]),
        last_seen_at=read_time(row[4]),
        expires_at=read_time(row[5]),
        ended_at=read_time_or_none(row[6]),
        end_reason=EndReason.of(row[7]) if len(row) > 7 and row[7] is not None else None,
    )


class SqliteSessionsRepository:
    """Sessions in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def add(
        self,
        *,
        account_id: int,
        telegram_user_id: int,
        created_at: datetime,
        expires_at: datetime,
    ) -> int:
        """Insert a live session."""
        new_id = await inserted_id(
            self._conn,
            "INSERT INTO sessions (account_id, telegram_user_id, created_at, last_seen_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
            (
                account_id,
                telegram_user_id,
                stored_time(created_at),
                stored_time(created_at),
                stored_time(expires_at),
            ),
        )
        return new_id

    async def live_for_telegram_user(self, telegram_user_id: int) -> SessionRecord | None:
        """The live session of a Telegram user, if any."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM sessions WHERE telegram_user_id = ? AND ended_at IS NULL",  # noqa: S608
            (telegram_user_id,),
        ) as cur:
            row = await cur.fetchone()
        return _session(row) if row else None

    async def get(self, session_id: int) -> SessionRecord | None:
        """A session by id, ended or not, with its end reason."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS}, end_reason FROM sessions WHERE id = ?",  # noqa: S608
            (session_id,),
        ) as cur:
            row = await cur.fetchone()
        return _session(row) if row else None

    async def latest_for_telegram_user(self, telegram_user_id: int) -> SessionRecord | None:
        """This Telegram user's newest session, ended or not, with its end reason."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS}, end_reason FROM sessions WHERE telegram_user_id = ?"  # noqa: S608
            " ORDER BY id DESC LIMIT 1",
            (telegram_user_id,),
        ) as cur:
            row = await cur.fetchone()
        return _session(row) if row else None

    async def live_for_account(self, account_id: int) -> list[SessionRecord]:
        """The account's sessions not ended yet, oldest first."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM sessions WHERE account_id = ? AND ended_at IS NULL"  # noqa: S608
            " ORDER BY id",
            (account_id,),
        ) as cur:
            rows = await cur.fetchall()
        return [_session(row) for row in rows]

    async def touch(self, session_id: int, at: datetime) -> None:
        """Record activity."""
        await self._conn.execute(
            "UPDATE sessions SET last_seen_at = ? WHERE id = ?", (stored_time(at), session_id)
        )

    async def end(self, session_id: int, at: datetime, reason: EndReason) -> None:
        """End one session."""
        await self._conn.execute(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
            (stored_time(at), str(reason), session_id),
        )

    async def end_for_account(
        self,
        account_id: int,
        at: datetime,
        reason: EndReason,
        *,
        keep_session_id: int | None = None,
    ) -> list[int]:
        """End an account's live sessions except one; return their Telegram user ids."""
        async with self._conn.execute(
            "SELECT id, telegram_user_id FROM sessions"
            " WHERE account_id = ? AND ended_at IS NULL AND id IS DISTINCT FROM ?",
            (account_id, keep_session_id),
        ) as cur:
            rows = await cur.fetchall()
        for session_id, _ in rows:
            await self.end(int(session_id), at, reason)
        return [int(row[1]) for row in rows]
