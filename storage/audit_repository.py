"""SQL for the audit chain."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from core.audit.ports import AuditHead, AuditRow, UnreadableAuditRow
from storage.columns import read_time_exact, stored_time
from storage.sql import SqlConnection

_COLUMNS = (
    "id, ts, event_type, severity, account_id, telegram_user_id, details, prev_hash, hash, key_id"
)


def read_row(raw: Any) -> AuditRow:
    """An ``audit_events`` row selected as ``_COLUMNS`` (:data:`COLUMNS`)."""
    try:
        return AuditRow(
            id=int(raw[0]),
            ts=read_time_exact(str(raw[1])),
            event_type=str(raw[2]),
            severity=str(raw[3]),
            account_id=raw[4],
            telegram_user_id=raw[5],
            details=json.loads(raw[6]),
            prev_hash=str(raw[7]),
            hash=str(raw[8]),
            key_id=None if raw[9] is None else str(raw[9]),
        )
    except ValueError as exc:  # a time not in to_iso form, details not JSON: edited by hand
        raise UnreadableAuditRow(int(raw[0])) from exc


COLUMNS = _COLUMNS


class SqliteAuditRepository:
    """Append-only access to ``audit_events`` and its head."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def head(self) -> AuditHead | None:
        """The newest link, or None for an empty log."""
        async with self._conn.execute(
            "SELECT h.last_id, h.last_hash, e.key_id FROM audit_head h "
            "LEFT JOIN audit_events e ON e.id = h.last_id"
        ) as cur:
            row = await cur.fetchone()
        if not row:
            return None
        return AuditHead(int(row[0]), str(row[1]), None if row[2] is None else str(row[2]))

    async def sealed_keys(self) -> list[tuple[str, str]]:
        """(key id, sealed key) of every retired chain key kept in the database."""
        async with self._conn.execute("SELECT key_id, key_enc FROM audit_chain_keys") as cur:
            return [(str(row[0]), str(row[1])) for row in await cur.fetchall()]

    async def keep_sealed_keys(self, keys: Sequence[tuple[str, str]], at: datetime) -> None:
        """Keep these sealed retired chain keys (a key id already kept stays as it is)."""
        await self._conn.executemany(
            "INSERT INTO audit_chain_keys (key_id, key_enc, added_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key_id) DO NOTHING",
            [(key_id, token, stored_time(at)) for key_id, token in keys],
        )

    async def append(self, row: AuditRow) -> None:
        """Insert ``row`` and move the head to it."""
        await self._conn.execute(
            f"INSERT INTO audit_events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (
                row.id,
                stored_time(row.ts),
                row.event_type,
                row.severity,
                row.account_id,
                row.telegram_user_id,
                json.dumps(row.details, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                row.prev_hash,
                row.hash,
                row.key_id,
            ),
        )
        await self._conn.execute(
            "INSERT INTO audit_head (singleton, last_id, last_hash) VALUES (1, ?, ?) "
            "ON CONFLICT (singleton) DO UPDATE SET last_id = excluded.last_id, "
            "last_hash = excluded.last_hash",
            (row.id, row.hash),
        )

    async def append_many(self, rows: Sequence[AuditRow]) -> None:
        """Bulk-insert rows already chained by the caller, in order, and move the head to the
        last one (benchmarks and imports; the app appends one event at a time)."""
        if not rows:
            return
        await self._conn.executemany(
            f"INSERT INTO audit_events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            [
                (
                    row.id,
                    stored_time(row.ts),
                    row.event_type,
                    row.severity,
                    row.account_id,
                    row.telegram_user_id,
                    json.dumps(
                        row.details, sort_keys=True, separators=(",", ":"), ensure_ascii=False
                    ),
                    row.prev_hash,
                    row.hash,
                    row.key_id,
                )
                for row in rows
            ],
        )
        last = rows[-1]
        await self._conn.execute(
            "INSERT INTO audit_head (singleton, last_id, last_hash) VALUES (1, ?, ?) "
            "ON CONFLICT (singleton) DO UPDATE SET last_id = excluded.last_id, "
            "last_hash = excluded.last_hash",
            (last.id, last.hash),
        )

    async def iter_rows(
        self, *, since: datetime | None = None, batch: int = 5000, after: int = 0
    ) -> AsyncIterator[AuditRow]:
        """Every row in id order (after row ``after``), fetched in batches (keyset pagination,
        constant memory)."""
        last_id = after
        if since is not None:
            async with self._conn.execute(
                "SELECT MIN(id) FROM audit_events WHERE ts >= ?", (stored_time(since),)
            ) as cur:
                found = await cur.fetchone()
            if not found or found[0] is None:
                return
            last_id = int(found[0]) - 1
        while True:
            async with self._conn.execute(
                f"SELECT {_COLUMNS} FROM audit_events WHERE id > ? ORDER BY id LIMIT ?",  # noqa: S608
                (last_id, batch),
            ) as cur:
                rows = list(await cur.fetchall())
            if not rows:
                return
            for raw in rows:
                yield read_row(raw)
            last_id = int(rows[-1][0])
