"""SQL for users and login failures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.accounts.ports import UserRecord
from core.errors import DuplicateError
from storage.columns import read_time, read_time_or_none, stored_time
from storage.sql import INTEGRITY_ERRORS, SqlConnection, inserted_id

_USER_COLUMNS = (
    "id, email, password_hash, referral_code, referred_by, created_at, "
    "last_telegram_user_id, last_login_at, closed_at"
)


def _user(row: Any) -> UserRecord | None:
    if not row:
        return None
    return UserRecord(
        id=row[0],
        email=row[1],
        password_hash=row[2],
        referral_code=row[3],
        referred_by=row[4],
        created_at=read_time(row[5]),
        last_telegram_user_id=row[6],
        last_login_at=read_time_or_none(row[7]),
        closed_at=read_time_or_none(row[8]),
    )


class SqliteAccountsRepository:
    """Users and login failures in SQLite."""

    def __init__(self, conn: SqlConnection) -> None:
        self._conn = conn

    async def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        async with self._conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def add(
        self,
        *,
        email: str,
        password_hash: str,
        referral_code: str,
        referred_by: int | None,
        created_at: datetime,
        registered_telegram_user_id: int | None = None,
    ) -> int:
        """Insert a user and return its id."""
        try:
            new_id = await inserted_id(
                self._conn,
                "INSERT INTO users (email, password_hash, referral_code, referred_by, created_at,"
                " registered_telegram_user_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    email,
                    password_hash,
                    referral_code,
                    referred_by,
                    stored_time(created_at),
                    registered_telegram_user_id,
                ),
            )
        except INTEGRITY_ERRORS as exc:
            raise DuplicateError("email or referral code already taken") from exc
        return new_id

    async def by_id(self, account_id: int) -> UserRecord | None:
        """The user with this id."""
        return _user(
            await self._one(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (account_id,))  # noqa: S608
        )

    async def by_email(self, email: str) -> UserRecord | None:
        """The user with this email."""
        return _user(
            await self._one(f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?", (email,))  # noqa: S608
        )

    async def by_referral_code(self, code: str) -> UserRecord | None:
        """The user owning this referral code (a closed account's code invites nobody)."""
        return _user(
            await self._one(
                f"SELECT {_USER_COLUMNS} FROM users"  # noqa: S608
                " WHERE referral_code = ? AND closed_at IS NULL",
                (code,),
            )
        )

    async def referral_code_taken(self, code: str) -> bool:
        """True when the code exists."""
        return bool(await self._one("SELECT 1 FROM users WHERE referral_code = ?", (code,)))

    async def set_password_hash(self, account_id: int, password_hash: str) -> None:
        """Replace the password hash."""
        await self._conn.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, account_id)
        )

    async def set_email(self, account_id: int, email: str) -> None:
        """Replace the email."""
        try:
            await self._conn.execute("UPDATE users SET email = ? WHERE id = ?", (email, account_id))
        except INTEGRITY_ERRORS as exc:
            raise DuplicateError("email already taken") from exc

    async def record_login(self, account_id: int, telegram_user_id: int, at: datetime) -> None:
        """Remember where and when the account last logged in."""
        await self._conn.execute(
            "UPDATE users SET last_telegram_user_id = ?, last_login_at = ? WHERE id = ?",
            (telegram_user_id, stored_time(at), account_id),
        )

    async def add_login_failure(self, email_key: str, telegram_user_id: int, at: datetime) -> int:
        """Record one failed (or reserved, not yet verified) password check; return its id."""
        new_id = await inserted_id(
            self._conn,
            "INSERT INTO login_failures (email_key, telegram_user_id, at) VALUES (?, ?, ?)"
            " RETURNING id",
            (email_key, telegram_user_id, stored_time(at)),
        )
        return new_id

    async def remove_login_failure(self, failure_id: int) -> None:
        """Withdraw one reserved failure (its password turned out to be right)."""
        await self._conn.execute("DELETE FROM login_failures WHERE id = ?", (failure_id,))

    async def login_failures_since(self, *, email_key: str, since: datetime) -> list[datetime]:
        """Failure times for an email key (index range scan)."""
        async with self._conn.execute(
            "SELECT at FROM login_failures WHERE email_key = ? AND at >= ? ORDER BY at",
            (email_key, stored_time(since)),
        ) as cur:
            return [read_time(row[0]) for row in await cur.fetchall()]

    async def shared_login_failures_since(
        self, *, email_key: str, account_id: int, since: datetime, trusted_since: datetime
    ) -> list[datetime]:
        """Failure times for an email key by Telegram users NOT trusted by the account (none
        of their sessions on it began at or after ``trusted_since``)."""
        async with self._conn.execute(
            "SELECT at FROM login_failures WHERE email_key = ? AND at >= ?"
            " AND telegram_user_id NOT IN (SELECT telegram_user_id FROM sessions"
            "  WHERE account_id = ? AND created_at >= ?) ORDER BY at",
            (email_key, stored_time(since), account_id, stored_time(trusted_since)),
        ) as cur:
            return [read_time(row[0]) for row in await cur.fetchall()]

    async def user_login_failures_since(
        self, *, email_key: str, telegram_user_id: int, since: datetime
    ) -> list[datetime]:
        """Failure times for an email key by one Telegram user."""
        async with self._conn.execute(
            "SELECT at FROM login_failures WHERE email_key = ? AND telegram_user_id = ?"
            " AND at >= ? ORDER BY at",
            (email_key, telegram_user_id, stored_time(since)),
        ) as cur:
            return [read_time(row[0]) for row in await cur.fetchall()]

    async def telegram_failures_since(
        self, *, telegram_user_id: int, since: datetime
    ) -> list[datetime]:
        """Failure times for a Telegram user (index range scan)."""
        async with self._conn.execute(
            "SELECT at FROM login_failures WHERE telegram_user_id = ? AND at >= ? ORDER BY at",
            (telegram_user_id, stored_time(since)),
        ) as cur:
            return [read_time(row[0]) for row in await cur.fetchall()]

    async def logged_in_from(
        self, *, account_id: int, telegram_user_id: int, since: datetime
    ) -> bool:
        """True when a session of this account for this Telegram user began at/after ``since``."""
        return bool(
            await self._one(
                "SELECT 1 FROM sessions WHERE account_id = ? AND telegram_user_id = ?"
                " AND created_at >= ? LIMIT 1",
                (account_id, telegram_user_id, stored_time(since)),
            )
        )

    async def clear_login_failures(self, email_key: str) -> None:
        """Forget an email key's failures."""
        await self._conn.execute("DELETE FROM login_failures WHERE email_key = ?", (email_key,))

    async def clear_user_login_failures(self, email_key: str, telegram_user_id: int) -> None:
        """Forget one Telegram user's failures for an email key (after their good login)."""
        await self._conn.execute(
            "DELETE FROM login_failures WHERE email_key = ? AND telegram_user_id = ?",
            (email_key, telegram_user_id),
        )

    async def registered_from(self, telegram_user_id: int) -> int:
        """Accounts whose /register came from ``telegram_user_id`` (``users_registered_by``)."""
        async with self._conn.execute(
            "SELECT COUNT(*) FROM users WHERE registered_telegram_user_id = ?",
            (telegram_user_id,),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def referred_count(self, account_id: int) -> int:
        """Accounts registered with this account's referral code (``users_referred_by``)."""
        async with self._conn.execute(
            "SELECT COUNT(*) FROM users WHERE referred_by = ?", (account_id,)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0
