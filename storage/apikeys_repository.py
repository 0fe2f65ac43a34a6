"""SQL for exchange API keys (``api_keys``); every statement is scoped to the owning account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.apikeys.ports import ApiKeyRecord, ApiKeyTokens
from storage.columns import read_time, read_time_or_none, stored_time, stored_time_or_none
from storage.sql import SqlConnection

_COLUMNS = "id, account_id, exchange, label, key_hint, created_at, updated_at"


def _record(raw: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=int(raw[0]),
        account_id=int(raw[1]),
        exchange=str(raw[2]),
        label=str(raw[3]),
        key_hint=str(raw[4]),
        created_at=read_time(raw[5]),
        updated_at=read_time_or_none(raw[6]),
    )


class SqliteApiKeysRepository:
    """API keys in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def for_account(self, account_id: int) -> list[ApiKeyRecord]:
        """The account's keys, oldest first."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM api_keys WHERE account_id = ? ORDER BY id",  # noqa: S608
            (account_id,),
        ) as cur:
            return [_record(row) for row in await cur.fetchall()]

    async def get(self, account_id: int, key_id: int) -> ApiKeyRecord | None:
        """The key with this id if it belongs to the account."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM api_keys WHERE id = ? AND account_id = ?",  # noqa: S608
            (key_id, account_id),
        ) as cur:
            row = await cur.fetchone()
        return _record(row) if row else None

    async def by_label(self, account_id: int, exchange: str, label: str) -> ApiKeyRecord | None:
        """The account's key for this exchange and label (case-insensitive label)."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM api_keys"  # noqa: S608
            " WHERE account_id = ? AND exchange = ? AND lower(label) = lower(?)",
            (account_id, exchange, label),
        ) as cur:
            row = await cur.fetchone()
        return _record(row) if row else None

    async def count(self, account_id: int) -> int:
        """How many keys the account has."""
        async with self._conn.execute(
            "SELECT COUNT(*) FROM api_keys WHERE account_id = ?", (account_id,)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def add(self, *, account_id: int, exchange: str, label: str, created_at: datetime) -> int:
        """Insert a row without credentials yet; return its id."""
        async with self._conn.execute(
            "INSERT INTO api_keys (account_id, exchange, label, key_enc, secret_enc, key_hint,"
            " created_at) VALUES (?, ?, ?, '', '', '', ?) RETURNING id",
            (account_id, exchange, label, stored_time(created_at)),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def set_credentials(
        self,
        account_id: int,
        key_id: int,
        *,
        tokens: ApiKeyTokens,
        key_hint: str,
        updated_at: datetime | None,
    ) -> None:
        """Store (or replace) the encrypted credentials of the account's key row."""
        cursor = await self._conn.execute(
            "UPDATE api_keys SET key_enc = ?, secret_enc = ?, passphrase_enc = ?, key_hint = ?,"
            " updated_at = ? WHERE id = ? AND account_id = ?",
            (
                tokens.key_enc,
                tokens.secret_enc,
                tokens.passphrase_enc,
                key_hint,
                stored_time_or_none(updated_at),
                key_id,
                account_id,
            ),
        )
        if cursor.rowcount != 1:
            raise LookupError(f"api key {key_id} of account {account_id} does not exist")

    async def tokens(self, account_id: int, key_id: int) -> ApiKeyTokens | None:
        """The encrypted credentials of the account's key."""
        async with self._conn.execute(
            "SELECT key_enc, secret_enc, passphrase_enc FROM api_keys"
            " WHERE id = ? AND account_id = ?",
            (key_id, account_id),
        ) as cur:
            row = await cur.fetchone()
        return ApiKeyTokens(str(row[0]), str(row[1]), row[2]) if row else None

    async def delete(self, account_id: int, key_id: int) -> bool:
        """Remove the account's key; False when there was none with that id."""
        cursor = await self._conn.execute(
            "DELETE FROM api_keys WHERE id = ? AND account_id = ?", (key_id, account_id)
        )
        return cursor.rowcount == 1
