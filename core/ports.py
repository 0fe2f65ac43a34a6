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
