"""SQL for /security's reads and /delete_account's writes (core/accounts/deletion.py)."""

from __future__ import annotations

import json
from datetime import datetime

from core.accounts.ports import NewAccountLogin
from storage.columns import read_time, stored_time
from storage.sql import SqlConnection

# What a closed account must not keep, table by table (the account's own rows).
_FORGOTTEN = {
    "api_keys": "DELETE FROM api_keys WHERE account_id = ?",
    "backup_codes": "DELETE FROM backup_codes WHERE account_id = ?",
    "mfa": "DELETE FROM mfa WHERE account_id = ?",
    "mfa_failures": "DELETE FROM mfa_failures WHERE account_id = ?",
    "notice_preferences": "DELETE FROM notice_preferences WHERE account_id = ?",
    # Queued notices carry copies of event details and would go to chats of a closed account.
    "user_notices": "UPDATE user_notices SET status = 'failed', last_error = 'account deleted'"
    " WHERE account_id = ? AND status = 'pending'",
}


def _says_new_account(details: str) -> bool:
    """True when the JSON object ``details`` has ``new_telegram_account`` true at its top."""
    try:
        parsed = json.loads(details)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("new_telegram_account") is True


class SqliteAccountCareRepository:
    """Reads for the security check-up; closing an account."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def pending_withdrawals(self, account_id: int) -> int:
        """Withdrawals still 'requested'."""
        async with self._conn.execute(
            "SELECT count(*) FROM withdrawals WHERE account_id = ? AND status = 'requested'",
            (account_id,),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def last_new_account_login(self, account_id: int) -> NewAccountLogin | None:
        """The newest LOGIN_SUCCESS whose details say ``new_telegram_account: true``."""
        # No JSON function both engines share: LIKE narrows to the rows whose details (stored
        # compact, keys sorted) spell the key with true, and the parsed details decide.
        async with self._conn.execute(
            "SELECT ts, telegram_user_id, details FROM audit_events"
            " WHERE account_id = ? AND event_type = 'LOGIN_SUCCESS'"
            """ AND details LIKE '%"new_telegram_account":true%'"""
            " ORDER BY id DESC",
            (account_id,),
        ) as cur:
            rows = await cur.fetchall()
        for row in rows:
            if _says_new_account(row[2]):
                if row[1] is None:
                    return None
                return NewAccountLogin(read_time(row[0]), int(row[1]))
        return None

    async def close(
        self, account_id: int, *, tombstone: str, unusable_hash: str, at: datetime
    ) -> None:
        """Tombstone the email, make the password unusable, set ``closed_at``."""
        await self._conn.execute(
            "UPDATE users SET email = ?, password_hash = ?, closed_at = ? WHERE id = ?",
            (tombstone, unusable_hash, stored_time(at), account_id),
        )

    async def forget_secrets(self, account_id: int) -> dict[str, int]:
        """Delete the account's secrets and choices; rows affected per table."""
        gone: dict[str, int] = {}
        for table, statement in _FORGOTTEN.items():
            cursor = await self._conn.execute(statement, (account_id,))
            gone[table] = max(cursor.rowcount, 0)
        return gone
