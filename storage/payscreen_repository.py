"""SQL for the payment screen: payments' status messages and renewal reminders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.payments.ports import LicenseRecord
from core.payments.screen_ports import ReminderRecord, StatusMessage
from storage.columns import read_time, stored_time
from storage.licenses_repository import _LICENSE_COLUMNS, _license
from storage.sql import SqlConnection


class SqliteStatusMessagesRepository:
    """``payment_status_messages`` in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def put(self, payment_id: int, *, chat_id: int, message_id: int, shown: int) -> None:
        await self._conn.execute(
            "INSERT INTO payment_status_messages (payment_id, chat_id, message_id, shown)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (payment_id) DO UPDATE SET"
            " chat_id = excluded.chat_id, message_id = excluded.message_id,"
            " shown = excluded.shown",
            (payment_id, chat_id, message_id, shown),
        )

    async def get(self, payment_id: int) -> StatusMessage | None:
        async with self._conn.execute(
            "SELECT payment_id, chat_id, message_id, shown FROM payment_status_messages"
            " WHERE payment_id = ?",
            (payment_id,),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else StatusMessage(row[0], row[1], row[2], row[3])

    async def set_shown(self, payment_id: int, *, was: int, shown: int) -> bool:
        cur = await self._conn.execute(
            "UPDATE payment_status_messages SET shown = ? WHERE payment_id = ? AND shown = ?",
            (shown, payment_id, was),
        )
        return cur.rowcount == 1


def _reminder(row: Any) -> ReminderRecord:
    return ReminderRecord(row[0], row[1], row[2], row[3], read_time(row[4]))


class SqliteRemindersRepository:
    """``license_reminders`` in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def licenses_ending(
        self, after: datetime, until: datetime, limit: int
    ) -> list[LicenseRecord]:
        async with self._conn.execute(
            f"SELECT {_LICENSE_COLUMNS} FROM licenses WHERE ends_at > ? AND ends_at <= ?"  # noqa: S608
            " ORDER BY ends_at, id LIMIT ?",
            (stored_time(after), stored_time(until), limit),
        ) as cur:
            return [_license(row) for row in await cur.fetchall()]

    async def sent(self, license_id: int) -> set[int]:
        async with self._conn.execute(
            "SELECT days_before FROM license_reminders WHERE license_id = ?", (license_id,)
        ) as cur:
            return {int(row[0]) for row in await cur.fetchall()}

    async def claim(
        self,
        *,
        license_id: int,
        days_before: int,
        reference: str,
        telegram_user_id: int,
        at: datetime,
        skipped: bool = False,
    ) -> bool:
        cur = await self._conn.execute(
            "INSERT INTO license_reminders"
            " (license_id, days_before, reference, telegram_user_id, sent_at, skipped)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (license_id, days_before, reference, telegram_user_id, stored_time(at), int(skipped)),
        )
        return cur.rowcount == 1

    async def by_reference(self, reference: str) -> ReminderRecord | None:
        async with self._conn.execute(
            "SELECT license_id, days_before, reference, telegram_user_id, sent_at"
            " FROM license_reminders WHERE reference = ? AND skipped = 0",
            (reference,),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else _reminder(row)
