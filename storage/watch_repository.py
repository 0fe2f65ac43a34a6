"""SQL for watching the receive address: the read cursor and the transfers seen there."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.payments.watch_ports import (
    WatchCandidate,
    WatchCursor,
    WatchedTransferRecord,
    WatchState,
)
from storage.columns import read_time, read_time_or_none, stored_time
from storage.payments_repository import _INVOICE_COLUMNS, _invoice
from storage.sql import SqlConnection

_COLUMNS = (
    "tx_hash, to_address, contract_address, amount_micro, block_ms, seen_at, state, reason,"
    " invoice_id, payment_id, attempts, alerted_at"
)


def _record(row: Any) -> WatchedTransferRecord:
    return WatchedTransferRecord(
        tx_hash=row[0],
        to_address=row[1],
        contract_address=row[2],
        amount_micro=row[3],
        block_ms=int(row[4]),
        seen_at=read_time(row[5]),
        state=WatchState(row[6]),
        reason=row[7],
        invoice_id=row[8],
        payment_id=row[9],
        attempts=int(row[10]),
        alerted_at=read_time_or_none(row[11]),
    )


class SqliteWatchRepository:
    """The watch cursor and watched transfers in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def cursor(self, address: str) -> WatchCursor | None:
        """How far the list of ``address`` was read, if at all."""
        async with self._conn.execute(
            "SELECT read_to_ms, backlog_end_ms, backlog_top_ms FROM watch_cursor"
            " WHERE receive_address = ?",
            (address,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return WatchCursor(int(row[0]), row[1], row[2])

    async def put_cursor(self, address: str, cursor: WatchCursor, *, at: datetime) -> None:
        """Remember how far the list of ``address`` was read."""
        await self._conn.execute(
            "INSERT INTO watch_cursor"
            " (receive_address, read_to_ms, backlog_end_ms, backlog_top_ms, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (receive_address) DO UPDATE SET"
            " read_to_ms = excluded.read_to_ms, backlog_end_ms = excluded.backlog_end_ms,"
            " backlog_top_ms = excluded.backlog_top_ms, updated_at = excluded.updated_at",
            (
                address,
                cursor.read_to_ms,
                cursor.backlog_end_ms,
                cursor.backlog_top_ms,
                stored_time(at),
            ),
        )

    async def add(self, record: WatchedTransferRecord) -> bool:
        """Remember a newly seen transfer; False when its hash was seen already."""
        cur = await self._conn.execute(
            f"INSERT INTO watched_transfers ({_COLUMNS})"  # noqa: S608
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tx_hash) DO NOTHING",
            (
                record.tx_hash,
                record.to_address,
                record.contract_address,
                record.amount_micro,
                record.block_ms,
                stored_time(record.seen_at),
                str(record.state),
                record.reason,
                record.invoice_id,
                record.payment_id,
                record.attempts,
                None,
            ),
        )
        return cur.rowcount == 1

    async def get(self, tx_hash: str) -> WatchedTransferRecord | None:
        """The transfer seen with this hash."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM watched_transfers WHERE tx_hash = ?",  # noqa: S608
            (tx_hash,),
        ) as cur:
            row = await cur.fetchone()
        return _record(row) if row else None

    async def settle(
        self,
        tx_hash: str,
        *,
        state: WatchState,
        reason: str = "",
        invoice_id: int | None = None,
        payment_id: int | None = None,
    ) -> bool:
        """Move a transfer out of ``retry``; False when it was not in ``retry``."""
        cur = await self._conn.execute(
            "UPDATE watched_transfers SET state = ?, reason = ?,"
            " invoice_id = COALESCE(?, invoice_id), payment_id = ?"
            " WHERE tx_hash = ? AND state = 'retry'",
            (str(state), reason, invoice_id, payment_id, tx_hash),
        )
        return cur.rowcount == 1

    async def count_attempt(self, tx_hash: str) -> None:
        """One more try at a transfer still in ``retry``."""
        await self._conn.execute(
            "UPDATE watched_transfers SET attempts = attempts + 1"
            " WHERE tx_hash = ? AND state = 'retry'",
            (tx_hash,),
        )

    async def retrying(self, limit: int) -> list[WatchedTransferRecord]:
        """Transfers still in ``retry``, least tried first."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM watched_transfers WHERE state = 'retry'"  # noqa: S608
            " ORDER BY attempts, seen_at LIMIT ?",
            (limit,),
        ) as cur:
            return [_record(row) for row in await cur.fetchall()]

    async def unalerted(self, limit: int) -> list[WatchedTransferRecord]:
        """Unmatched transfers the admins have not been told about, oldest first."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM watched_transfers"  # noqa: S608
            " WHERE state = 'unmatched' AND alerted_at IS NULL ORDER BY seen_at, block_ms"
            " LIMIT ?",
            (limit,),
        ) as cur:
            return [_record(row) for row in await cur.fetchall()]

    async def mark_alerted(self, tx_hashes: list[str], *, at: datetime) -> None:
        """The admins were told about these transfers."""
        await self._conn.executemany(
            "UPDATE watched_transfers SET alerted_at = ? WHERE tx_hash = ?",
            [(stored_time(at), tx_hash) for tx_hash in tx_hashes],
        )

    async def candidates(
        self, address: str, *, since: datetime, until: datetime
    ) -> list[WatchCandidate]:
        """Invoices for ``address`` alive at some time between ``since`` and ``until``."""
        columns = ", ".join(f"i.{c.strip()}" for c in _INVOICE_COLUMNS.split(","))
        async with self._conn.execute(
            f"SELECT {columns}, COALESCE(i.telegram_user_id, u.registered_telegram_user_id)"  # noqa: S608
            " FROM invoices i JOIN users u ON u.id = i.account_id"
            " WHERE i.receive_address = ? AND i.expires_at > ? AND i.created_at <= ?"
            " ORDER BY i.id",
            (address, stored_time(since), stored_time(until)),
        ) as cur:
            rows = await cur.fetchall()
        return [WatchCandidate(_invoice(row), row[11]) for row in rows]
