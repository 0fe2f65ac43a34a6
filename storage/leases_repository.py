"""SQL for the job leases (migration ``job_leases``): compare-and-set writes only."""

from __future__ import annotations

from core.leases import Lease
from storage.columns import read_time, stored_time
from storage.sql import SqlConnection


class SqliteLeasesRepository:
    """Reads and writes ``job_leases`` rows for :class:`core.leases.Leadership`."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def get(self, name: str) -> Lease | None:
        """The lease as stored, or None."""
        async with self._conn.execute(
            "SELECT name, holder, expires_at FROM job_leases WHERE name = ?", (name,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else Lease(str(row[0]), str(row[1]), read_time(str(row[2])))

    async def create(self, lease: Lease) -> bool:
        """The first lease of its name; False when one exists already."""
        cursor = await self._conn.execute(
            "INSERT INTO job_leases (name, holder, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (lease.name, lease.holder, stored_time(lease.expires_at)),
        )
        return cursor.rowcount == 1

    async def replace(self, expected: Lease, new: Lease) -> bool:
        """Write ``new`` only where the row still holds ``expected`` (holder and expiry)."""
        cursor = await self._conn.execute(
            "UPDATE job_leases SET holder = ?, expires_at = ? "
            "WHERE name = ? AND holder = ? AND expires_at = ?",
            (
                new.holder,
                stored_time(new.expires_at),
                expected.name,
                expected.holder,
                stored_time(expected.expires_at),
            ),
        )
        return cursor.rowcount == 1
