"""SQL for withdrawal requests (``withdrawals``); the money itself moves in the wallet ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.errors import DuplicateError
from core.withdrawals.ports import WithdrawalRecord, WithdrawalStatus
from storage.columns import read_time, read_time_or_none, stored_time
from storage.sql import INTEGRITY_ERRORS, SqlConnection, inserted_id

_COLUMNS = (
    "id, account_id, telegram_user_id, amount_micro, address, status, requested_at,"
    " hold_entry_id, decided_at, decided_by_account_id, tx_hash, reason, signature"
)


def _withdrawal(row: Any) -> WithdrawalRecord:
    return WithdrawalRecord(
        id=row[0],
        account_id=row[1],
        telegram_user_id=row[2],
        amount_micro=row[3],
        address=row[4],
        status=WithdrawalStatus(row[5]),
        requested_at=read_time(row[6]),
        hold_entry_id=row[7],
        decided_at=read_time_or_none(row[8]),
        decided_by_account_id=row[9],
        tx_hash=row[10],
        reason=row[11],
        signature=row[12],
    )


class SqliteWithdrawalsRepository:
    """Withdrawal requests in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        async with self._conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def add(
        self,
        *,
        account_id: int,
        telegram_user_id: int,
        amount_micro: int,
        address: str,
        requested_at: datetime,
    ) -> int:
        """Insert a requested withdrawal and return its id."""
        new_id = await inserted_id(
            self._conn,
            "INSERT INTO withdrawals (account_id, telegram_user_id, amount_micro, address,"
            " requested_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
            (account_id, telegram_user_id, amount_micro, address, stored_time(requested_at)),
        )
        return new_id

    async def attach_hold(self, withdrawal_id: int, hold_entry_id: int, signature: str) -> None:
        """Store the hold entry and the signature of a new request."""
        await self._conn.execute(
            "UPDATE withdrawals SET hold_entry_id = ?, signature = ? WHERE id = ?",
            (hold_entry_id, signature, withdrawal_id),
        )

    async def get(self, withdrawal_id: int) -> WithdrawalRecord | None:
        """The withdrawal with this id."""
        rows = await self._rows(
            f"SELECT {_COLUMNS} FROM withdrawals WHERE id = ?",  # noqa: S608
            (withdrawal_id,),
        )
        return _withdrawal(rows[0]) if rows else None

    async def by_tx_hash(self, tx_hash: str) -> WithdrawalRecord | None:
        """The withdrawal completed with this transaction (the column is UNIQUE)."""
        rows = await self._rows(
            f"SELECT {_COLUMNS} FROM withdrawals WHERE tx_hash = ?",  # noqa: S608
            (tx_hash,),
        )
        return _withdrawal(rows[0]) if rows else None

    async def for_account(self, account_id: int, limit: int) -> list[WithdrawalRecord]:
        """The account's newest withdrawals first."""
        rows = await self._rows(
            f"SELECT {_COLUMNS} FROM withdrawals WHERE account_id = ?"  # noqa: S608
            " ORDER BY id DESC LIMIT ?",
            (account_id, limit),
        )
        return [_withdrawal(row) for row in rows]

    async def requested(self, limit: int) -> list[WithdrawalRecord]:
        """Withdrawals waiting for an admin, oldest first (the partial index answers)."""
        rows = await self._rows(
            f"SELECT {_COLUMNS} FROM withdrawals WHERE status = 'requested'"  # noqa: S608
            " ORDER BY id LIMIT ?",
            (limit,),
        )
        return [_withdrawal(row) for row in rows]

    async def totals(self, account_id: int) -> dict[WithdrawalStatus, int]:
        """Sum of the account's withdrawal amounts per status."""
        rows = await self._rows(
            "SELECT status, SUM(amount_micro) FROM withdrawals WHERE account_id = ?"
            " GROUP BY status",
            (account_id,),
        )
        return {WithdrawalStatus(status): int(total) for status, total in rows}

    async def decide(
        self,
        withdrawal_id: int,
        *,
        status: WithdrawalStatus,
        at: datetime,
        by_account_id: int,
        tx_hash: str | None,
        reason: str,
    ) -> bool:
        """Compare-and-set from 'requested': decided once, whoever is quicker."""
        try:
            cursor = await self._conn.execute(
                "UPDATE withdrawals SET status = ?, decided_at = ?, decided_by_account_id = ?,"
                " tx_hash = ?, reason = ? WHERE id = ? AND status = 'requested'",
                (status, stored_time(at), by_account_id, tx_hash, reason, withdrawal_id),
            )
        except INTEGRITY_ERRORS as exc:
            raise DuplicateError("this transaction already completed a withdrawal") from exc
        return cursor.rowcount == 1
