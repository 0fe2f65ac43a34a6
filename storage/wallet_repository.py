"""SQL for the wallet ledger (``wallet_entries``): a balance is the sum of the entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.errors import DuplicateError
from core.payments.ports import WalletEntryRecord
from storage.columns import read_time, stored_time
from storage.sql import INTEGRITY_ERRORS, SqlConnection, inserted_id

_ENTRY_COLUMNS = (
    "id, account_id, amount_micro, kind, payment_id, created_at, signature, stars_payment_id"
)


def _entry(row: Any) -> WalletEntryRecord:
    return WalletEntryRecord(
        id=row[0],
        account_id=row[1],
        amount_micro=row[2],
        kind=row[3],
        payment_id=row[4],
        created_at=read_time(row[5]),
        signature=row[6],
        stars_payment_id=row[7],
    )


class SqliteWalletRepository:
    """The wallet ledger in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def add(
        self,
        *,
        account_id: int,
        amount_micro: int,
        kind: str,
        payment_id: int | None,
        created_at: datetime,
        stars_payment_id: int | None = None,
    ) -> int:
        """Append an entry and return its id."""
        try:
            new_id = await inserted_id(
                self._conn,
                "INSERT INTO wallet_entries (account_id, amount_micro, kind, payment_id,"
                " created_at, stars_payment_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    account_id,
                    amount_micro,
                    kind,
                    payment_id,
                    stored_time(created_at),
                    stars_payment_id,
                ),
            )
        except INTEGRITY_ERRORS as exc:
            raise DuplicateError("this payment already caused such an entry") from exc
        return new_id

    async def sign(self, entry_id: int, signature: str) -> None:
        """Store the entry's signature."""
        await self._conn.execute(
            "UPDATE wallet_entries SET signature = ? WHERE id = ?", (signature, entry_id)
        )

    async def of_stars_payment(self, kind: str, stars_payment_id: int) -> WalletEntryRecord | None:
        """The entry of ``kind`` a Stars payment caused, if any."""
        async with self._conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM wallet_entries"  # noqa: S608
            " WHERE kind = ? AND stars_payment_id = ?",
            (kind, stars_payment_id),
        ) as cur:
            row = await cur.fetchone()
        return _entry(row) if row else None

    async def entries(self, account_id: int, limit: int) -> list[WalletEntryRecord]:
        """The account's newest entries first."""
        async with self._conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM wallet_entries WHERE account_id = ?"  # noqa: S608
            " ORDER BY id DESC LIMIT ?",
            (account_id, limit),
        ) as cur:
            return [_entry(row) for row in await cur.fetchall()]

    async def balance(self, account_id: int) -> int:
        """SUM of the account's entries (0 without any)."""
        async with self._conn.execute(
            "SELECT COALESCE(SUM(amount_micro), 0) FROM wallet_entries WHERE account_id = ?",
            (account_id,),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0
