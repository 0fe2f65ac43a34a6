"""What core needs from storage, as Protocols.

Services depend on these interfaces only; ``storage/`` implements them for SQLite. Nothing here
mentions SQL, cursors or SQLite, so a PostgreSQL implementation can be added without touching
``core/``.

Transactions belong to services: ``async with uow_factory() as uow: ...; await uow.commit()``.
Leaving the block without ``commit()`` rolls everything back. Repositories never commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self


@dataclass(frozen=True)
class AuditRow:
    """One stored audit event, exactly as hashed."""

    id: int
    ts: str
    event_type: str
    severity: str
    account_id: int | None
    telegram_user_id: int | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditHead:
    """The newest link of the chain, kept separately so a deleted tail is detected."""

    last_id: int
    last_hash: str


@dataclass(frozen=True)
class EncryptedColumn:
    """A column holding tokens made by the encryption service."""

    table: str
    column: str
    purpose: str


@dataclass(frozen=True)
class EncryptedValue:
    """One stored token with the row it belongs to."""

    row_id: int
    owner: int | str
    token: str


class AuditRepository(Protocol):
    """Append-only storage of the audit chain."""

    async def head(self) -> AuditHead | None:
        """Return the newest link, or None for an empty log."""
        ...

    async def append(self, row: AuditRow) -> None:
        """Store ``row`` and make it the head."""
        ...

    def iter_rows(self, *, since: str | None = None, batch: int = 5000) -> AsyncIterator[AuditRow]:
        """Yield every row in id order (optionally from a timestamp on), in batches."""
        ...


class SecretsRepository(Protocol):
    """Access to every encrypted column, for key rotation."""

    def columns(self) -> list[EncryptedColumn]:
        """Every column that holds encrypted values."""
        ...

    def iter_values(self, column: EncryptedColumn) -> AsyncIterator[EncryptedValue]:
        """Yield each non-empty value of ``column``."""
        ...

    async def replace(self, column: EncryptedColumn, row_id: int, token: str) -> None:
        """Overwrite one value (same row, new token)."""
        ...


class UnitOfWork(Protocol):
    """One database transaction and the repositories that work inside it."""

    audit: AuditRepository
    secrets: SecretsRepository
    accounts: AccountsRepository
    sessions: SessionsRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Make the work durable."""
        ...

    async def rollback(self) -> None:
        """Undo everything done in this unit."""
        ...


UnitOfWorkFactory = Callable[..., UnitOfWork]


@dataclass(frozen=True)
class UserRecord:
    """A platform account as stored."""

    id: int
    email: str
    password_hash: str
    referral_code: str
    referred_by: int | None
    created_at: str
    last_telegram_user_id: int | None
    last_login_at: str | None


@dataclass(frozen=True)
class SessionRecord:
    """A login session bound to one Telegram user."""

    id: int
    account_id: int
    telegram_user_id: int
    created_at: str
    last_seen_at: str
    expires_at: str
    ended_at: str | None


class AccountsRepository(Protocol):
    """Users and the failures that throttle their logins."""

    async def add(
        self,
        *,
        email: str,
        password_hash: str,
        referral_code: str,
        referred_by: int | None,
        created_at: str,
    ) -> int:
        """Insert a user; return its id. Raises ``DuplicateError`` on a taken email/code."""
        ...

    async def by_id(self, account_id: int) -> UserRecord | None:
        """The user with this id."""
        ...

    async def by_email(self, email: str) -> UserRecord | None:
        """The user with this (lowercased) email."""
        ...

    async def by_referral_code(self, code: str) -> UserRecord | None:
        """The user owning this referral code."""
        ...

    async def referral_code_taken(self, code: str) -> bool:
        """True when some account already has ``code``."""
        ...

    async def set_password_hash(self, account_id: int, password_hash: str) -> None:
        """Replace the password hash."""
        ...

    async def set_email(self, account_id: int, email: str) -> None:
        """Replace the email. Raises ``DuplicateError`` when taken."""
        ...

    async def record_login(self, account_id: int, telegram_user_id: int, at: str) -> None:
        """Remember the Telegram account and time of a successful login."""
        ...

    async def add_login_failure(self, email_key: str, telegram_user_id: int, at: str) -> None:
        """Record one failed password check."""
        ...

    async def login_failures_since(self, *, email_key: str, since: str) -> list[str]:
        """Times (ascending) of failures for this email key since ``since``."""
        ...

    async def telegram_failures_since(self, *, telegram_user_id: int, since: str) -> list[str]:
        """Times (ascending) of failures by this Telegram user since ``since``."""
        ...

    async def clear_login_failures(self, email_key: str) -> None:
        """Forget failures for this email key (after a successful login)."""
        ...


class SessionsRepository(Protocol):
    """Sessions bound to Telegram users."""

    async def add(
        self, *, account_id: int, telegram_user_id: int, created_at: str, expires_at: str
    ) -> int:
        """Insert a live session; return its id."""
        ...

    async def live_for_telegram_user(self, telegram_user_id: int) -> SessionRecord | None:
        """The live (not ended) session of a Telegram user."""
        ...

    async def touch(self, session_id: int, at: str) -> None:
        """Record activity."""
        ...

    async def end(self, session_id: int, at: str, reason: str) -> None:
        """End one session."""
        ...

    async def end_for_account(
        self, account_id: int, at: str, reason: str, *, keep_session_id: int | None = None
    ) -> list[int]:
        """End every live session of an account except ``keep_session_id``; return the
        Telegram user ids whose sessions ended."""
        ...
