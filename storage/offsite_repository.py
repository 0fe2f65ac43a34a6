"""Off-site state of the nightly archives (see the migration creating ``offsite_copies``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.backups.offsite import CopyStatus, OffsiteCopy
from storage.columns import read_time, read_time_or_none, stored_time, stored_time_or_none
from storage.sql import SqlConnection

_COLUMNS = "archive, target, status, size, attempts, created_at, last_error, sent_at, remote_ref"


def _copy(row: Any) -> OffsiteCopy:
    return OffsiteCopy(
        archive=str(row[0]),
        target=str(row[1]),
        status=CopyStatus(row[2]),
        size=int(row[3]),
        attempts=int(row[4]),
        created_at=read_time(row[5]),
        last_error=row[6],
        sent_at=read_time_or_none(row[7]),
        remote_ref=row[8],
    )


class SqliteOffsiteCopiesRepository:
    """SQL of ``offsite_copies``; the unit of work owns the transaction."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def add(self, archive: str, target: str, *, size: int, at: datetime) -> None:
        """Record ``archive`` as pending for ``target``; nothing when it is already known."""
        await self._conn.execute(
            "INSERT INTO offsite_copies (archive, target, size, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (archive, target) DO NOTHING",
            (archive, target, size, stored_time(at)),
        )

    async def pending(self, target: str) -> list[OffsiteCopy]:
        """The pending copies for ``target``, oldest archive first."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM offsite_copies"  # noqa: S608  # a constant column list
            " WHERE target = ? AND status = 'pending' ORDER BY archive",
            (target,),
        ) as cur:
            return [_copy(row) for row in await cur.fetchall()]

    async def update(
        self,
        archive: str,
        target: str,
        *,
        status: CopyStatus,
        error: str | None = None,
        at: datetime | None = None,
        remote_ref: str | None = None,
        attempted: bool = False,
    ) -> None:
        """Record the outcome of an attempt (``attempted`` counts it)."""
        await self._conn.execute(
            "UPDATE offsite_copies SET status = ?, last_error = ?,"
            " sent_at = COALESCE(?, sent_at), remote_ref = COALESCE(?, remote_ref),"
            " attempts = attempts + ? WHERE archive = ? AND target = ?",
            (
                str(status),
                error,
                stored_time_or_none(at),
                remote_ref,
                1 if attempted else 0,
                archive,
                target,
            ),
        )
