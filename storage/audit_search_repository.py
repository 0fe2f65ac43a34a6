"""SQL for reading the audit log by subject: window counts, pages and the suspicious summary.

Every query here walks one index range (see ``0004_alerts.sql`` and ``0001_foundation.sql``),
so its cost depends on the subject's own events, never on the size of the whole log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.audit.ports import AuditRow
from storage.audit_repository import _COLUMNS
from storage.audit_repository import read_row as _row
from storage.columns import stored_time
from storage.sql import SqlConnection


def _subject(account_id: int | None, telegram_user_id: int | None) -> tuple[str, int]:
    if (account_id is None) == (telegram_user_id is None):
        raise ValueError("give exactly one of account_id and telegram_user_id")
    if account_id is not None:
        return "account_id", account_id
    assert telegram_user_id is not None
    return "telegram_user_id", telegram_user_id


class SqliteAuditSearchRepository:
    """Indexed reads of ``audit_events``."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def count_since(
        self,
        event_types: Sequence[str],
        *,
        since: datetime,
        cap: int,
        account_id: int | None = None,
        telegram_user_id: int | None = None,
    ) -> int:
        """Events of these types for one subject with ``ts > since``, counted up to ``cap``."""
        if not event_types:
            return 0
        column, value = _subject(account_id, telegram_user_id)
        marks = ", ".join("?" for _ in event_types)
        # The LIMIT inside keeps the scan bounded; (event_type, <subject>, ts) covers it.
        sql = (
            f"SELECT COUNT(*) FROM (SELECT 1 FROM audit_events WHERE event_type IN ({marks})"  # noqa: S608
            f" AND {column} = ? AND ts > ? LIMIT ?) AS capped"
        )
        async with self._conn.execute(sql, (*event_types, value, stored_time(since), cap)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def page(
        self,
        *,
        limit: int,
        account_id: int | None = None,
        telegram_user_id: int | None = None,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[AuditRow]:
        """One subject's events, newest first, keyset-paginated on ``id``."""
        column, value = _subject(account_id, telegram_user_id)
        if after_id is not None:
            sql = (
                f"SELECT {_COLUMNS} FROM audit_events WHERE {column} = ? AND id > ?"  # noqa: S608
                " ORDER BY id ASC LIMIT ?"
            )
            params: tuple[int, ...] = (value, after_id, limit)
        else:
            sql = (
                f"SELECT {_COLUMNS} FROM audit_events WHERE {column} = ? AND id < ?"  # noqa: S608
                " ORDER BY id DESC LIMIT ?"
            )
            params = (value, before_id if before_id is not None else 2**63 - 1, limit)
        async with self._conn.execute(sql, params) as cur:
            rows = [_row(raw) for raw in await cur.fetchall()]
        if after_id is not None:
            rows.reverse()
        return rows
