"""SQL for the audit chain's anchors (``audit_anchors``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from core.audit.ports import Anchor, AuditRow
from storage.audit_repository import COLUMNS as AUDIT_COLUMNS
from storage.audit_repository import read_row
from storage.columns import read_time, read_time_or_none, stored_time
from storage.sql import SqlConnection

_COLUMNS = "id, last_audit_id, link, reason, recorded_at, chat_id, message_id, posted_at"


def _anchor(raw: Any) -> Anchor:
    return Anchor(
        id=int(raw[0]),
        last_audit_id=int(raw[1]),
        link=str(raw[2]),
        reason=str(raw[3]),
        recorded_at=read_time(str(raw[4])),
        chat_id=None if raw[5] is None else int(raw[5]),
        message_id=None if raw[6] is None else int(raw[6]),
        posted_at=read_time_or_none(raw[7]),
    )


class SqliteAnchorsRepository:
    """Anchors: recorded, posted once, never deleted."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def add(self, last_audit_id: int, link: str, reason: str, at: datetime) -> Anchor:
        """Record an anchor of the given head, not posted yet."""
        insert = (
            "INSERT INTO audit_anchors (last_audit_id, link, reason, recorded_at) "  # noqa: S608
            f"VALUES (?, ?, ?, ?) RETURNING {_COLUMNS}"
        )
        async with self._conn.execute(
            insert,
            (last_audit_id, link, reason, stored_time(at)),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return _anchor(row)

    async def mark_posted(
        self, anchor_id: int, chat_id: int, message_id: int, at: datetime
    ) -> None:
        """Fill in where and when the anchor was posted."""
        await self._conn.execute(
            "UPDATE audit_anchors SET chat_id = ?, message_id = ?, posted_at = ? "
            "WHERE id = ? AND message_id IS NULL",
            (chat_id, message_id, stored_time(at), anchor_id),
        )

    async def unposted(self) -> list[Anchor]:
        """Anchors recorded but not posted yet, oldest first."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM audit_anchors WHERE message_id IS NULL ORDER BY id"  # noqa: S608
        ) as cur:
            return [_anchor(row) for row in await cur.fetchall()]

    async def last(self) -> Anchor | None:
        """The newest anchor."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM audit_anchors ORDER BY id DESC LIMIT 1"  # noqa: S608
        ) as cur:
            row = await cur.fetchone()
        return _anchor(row) if row else None

    async def iter_all(self) -> AsyncIterator[Anchor]:
        """Every anchor, oldest first."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM audit_anchors ORDER BY id"  # noqa: S608
        ) as cur:
            rows = await cur.fetchall()
        for row in rows:
            yield _anchor(row)

    async def link_of(self, audit_id: int) -> str | None:
        """The stored link of audit row ``audit_id`` (None when there is no such row)."""
        async with self._conn.execute(
            "SELECT hash FROM audit_events WHERE id = ?", (audit_id,)
        ) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def restored_since(self, since: datetime) -> list[AuditRow]:
        """BACKUP_RESTORED rows written at or after ``since``."""
        async with self._conn.execute(
            f"SELECT {AUDIT_COLUMNS} FROM audit_events "  # noqa: S608
            "WHERE event_type = 'BACKUP_RESTORED' AND ts >= ? ORDER BY id",
            (stored_time(since),),
        ) as cur:
            return [read_row(row) for row in await cur.fetchall()]
