"""Until backups of PostgreSQL exist (storage/postgres/dump_files.py, pgdump's), every backup
operation on a PostgreSQL database refuses with a plain StorageError instead of touching files
that are not the database. bot/bootstrap.py picks this; pgdump's branch replaces it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.accounts.ports import EndReason
from core.backups.ports import DatabaseCheck, SchemaObject
from core.errors import StorageError
from storage.postgres.migrator import code_schema_version

if TYPE_CHECKING:
    from core.ports import UnitOfWork

_NOT_YET = "backups of a PostgreSQL database are not available in this build"


class NoPostgresBackups:
    """``core.backups.ports.DatabaseFiles`` that refuses everything (see the module)."""

    @property
    def path(self) -> Path:
        """No file: the database lives in PostgreSQL."""
        return Path("postgresql")

    def code_schema_version(self) -> int:
        """The newest schema version this code knows."""
        return code_schema_version()

    async def snapshot(self, dest: Path) -> None:
        """Refused."""
        raise StorageError(_NOT_YET)

    async def check(self, path: Path) -> DatabaseCheck:
        """Refused."""
        raise StorageError(_NOT_YET)

    async def schema(self, path: Path) -> frozenset[SchemaObject]:
        """Refused."""
        raise StorageError(_NOT_YET)

    async def reference_schema(self, version: int) -> frozenset[SchemaObject]:
        """Refused."""
        raise StorageError(_NOT_YET)

    @asynccontextmanager
    async def candidate(self, path: Path) -> AsyncIterator[Callable[..., UnitOfWork]]:
        """Refused."""
        raise StorageError(_NOT_YET)
        yield  # pragma: no cover

    async def end_sessions(
        self, path: Path, at: datetime, reason: EndReason, new_stamp: str = ""
    ) -> int:
        """Refused."""
        raise StorageError(_NOT_YET)

    async def live_session_users(self, path: Path, at: datetime) -> list[int]:
        """Refused."""
        raise StorageError(_NOT_YET)

    async def carry_deliveries(self, live: Path, candidate: Path) -> int:
        """Refused."""
        raise StorageError(_NOT_YET)

    @asynccontextmanager
    async def exclusive(
        self, guard: Callable[[UnitOfWork], Awaitable[None]] | None = None
    ) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """Refused."""
        raise StorageError(_NOT_YET)
        yield  # pragma: no cover

    async def install(self, candidate: Path) -> None:
        """Refused."""
        raise StorageError(_NOT_YET)
