"""SQL for TOTP secrets, backup codes and wrong-code attempts."""

from __future__ import annotations

from datetime import datetime

from core.twofactor.ports import BackupCodeRecord, MfaRecord
from storage.columns import read_time, read_time_or_none, stored_time
from storage.sql import SqlConnection, inserted_id


class SqliteTwoFactorRepository:
    """Two-factor state in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def get(self, account_id: int) -> MfaRecord | None:
        """The account's 2FA row (pending or enabled)."""
        async with self._conn.execute(
            "SELECT account_id, secret_enc, created_at, enabled_at, last_used_step"
            " FROM mfa WHERE account_id = ?",
            (account_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return MfaRecord(
            int(row[0]), str(row[1]), read_time(row[2]), read_time_or_none(row[3]), int(row[4])
        )

    async def put_pending(self, account_id: int, secret_enc: str, created_at: datetime) -> None:
        """Start (or restart) an enrolment; never touches an enabled row."""
        await self._conn.execute(
            "INSERT INTO mfa (account_id, secret_enc, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (account_id) DO UPDATE SET secret_enc = excluded.secret_enc,"
            " created_at = excluded.created_at, last_used_step = -1"
            " WHERE mfa.enabled_at IS NULL",
            (account_id, secret_enc, stored_time(created_at)),
        )

    async def enable(self, account_id: int, at: datetime, step: int) -> bool:
        """Mark a pending enrolment complete; False when it was already enabled (or gone)."""
        cursor = await self._conn.execute(
            "UPDATE mfa SET enabled_at = ?, last_used_step = ?"
            " WHERE account_id = ? AND enabled_at IS NULL",
            (stored_time(at), step, account_id),
        )
        return cursor.rowcount == 1

    async def use_step(self, account_id: int, step: int) -> bool:
        """Record an accepted time step; False when it is not newer than the last one."""
        cursor = await self._conn.execute(
            "UPDATE mfa SET last_used_step = ? WHERE account_id = ? AND last_used_step < ?",
            (step, account_id, step),
        )
        return cursor.rowcount == 1

    async def delete(self, account_id: int) -> None:
        """Remove 2FA and every backup code."""
        await self._conn.execute("DELETE FROM backup_codes WHERE account_id = ?", (account_id,))
        await self._conn.execute("DELETE FROM mfa WHERE account_id = ?", (account_id,))

    async def replace_backup_codes(self, account_id: int, hashes: list[str], at: datetime) -> None:
        """Void the old set and store a new one."""
        await self._conn.execute("DELETE FROM backup_codes WHERE account_id = ?", (account_id,))
        await self._conn.executemany(
            "INSERT INTO backup_codes (account_id, code_hash, created_at) VALUES (?, ?, ?)",
            [(account_id, code_hash, stored_time(at)) for code_hash in hashes],
        )

    async def unused_backup_codes(self, account_id: int) -> list[BackupCodeRecord]:
        """Backup codes not used yet."""
        async with self._conn.execute(
            "SELECT id, code_hash FROM backup_codes WHERE account_id = ? AND used_at IS NULL",
            (account_id,),
        ) as cur:
            return [BackupCodeRecord(int(r[0]), str(r[1])) for r in await cur.fetchall()]

    async def use_backup_code(self, code_id: int, at: datetime) -> bool:
        """Spend a backup code; False when it was already used."""
        cursor = await self._conn.execute(
            "UPDATE backup_codes SET used_at = ? WHERE id = ? AND used_at IS NULL",
            (stored_time(at), code_id),
        )
        return cursor.rowcount == 1

    async def add_failure(self, account_id: int, at: datetime) -> int:
        """Record a wrong (or reserved, not yet checked) code; return its id."""
        new_id = await inserted_id(
            self._conn,
            "INSERT INTO mfa_failures (account_id, at) VALUES (?, ?) RETURNING id",
            (account_id, stored_time(at)),
        )
        return new_id

    async def remove_failure(self, failure_id: int) -> None:
        """Withdraw a reserved failure (its code turned out to be right)."""
        await self._conn.execute("DELETE FROM mfa_failures WHERE id = ?", (failure_id,))

    async def failures_since(self, account_id: int, since: datetime) -> list[datetime]:
        """Times (ascending) of wrong codes since ``since``."""
        async with self._conn.execute(
            "SELECT at FROM mfa_failures WHERE account_id = ? AND at >= ? ORDER BY at",
            (account_id, stored_time(since)),
        ) as cur:
            return [read_time(r[0]) for r in await cur.fetchall()]
