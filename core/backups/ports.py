"""What backups needs from storage, as records and Protocols (storage/ implements them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from core.accounts.ports import EndReason

if TYPE_CHECKING:
    from core.ports import UnitOfWork


@dataclass(frozen=True)
class SchemaObject:
    """One row of ``sqlite_schema``: a table, index, trigger or view and its SQL (whitespace
    normalised; empty for the indexes SQLite makes itself)."""

    kind: str
    name: str
    table: str
    sql: str


@dataclass(frozen=True)
class DatabaseCheck:
    """What a database file says about itself (a fresh snapshot or a restore candidate)."""

    integrity: list[str]  # the integrity check's messages: ["ok"] when the file is sound
    foreign_key_violations: int
    schema_version: int | None  # None: no migrations table, so not a Verzek Guard database
    row_counts: dict[str, int]  # rows per table


class DatabaseFiles(Protocol):
    """The live database as one file: online snapshots, checks of any copy, the restore swap.

    Everything here works on files and connections of its own, never on a unit of work.
    """

    @property
    def engine(self) -> str:
        """The engine of the live database (``archive_rules.SQLITE``, ``POSTGRESQL``): what
        its archives' manifests record and what an archive must say to be restored here."""
        ...

    @property
    def path(self) -> Path:
        """Where the live database file is (PostgreSQL: a name that stands for it in
        messages, in the folder where candidates are written)."""
        ...

    def live_exists(self) -> bool:
        """Whether there is a live database to take a safety backup of."""
        ...

    async def raw_copy(self, dest: Path) -> None:
        """The live database as it is into the new file ``dest``, with no checks (the safety
        backup of a database that fails them); raises ``StorageError`` when it cannot."""
        ...

    def code_schema_version(self) -> int:
        """The newest schema version this code knows."""
        ...

    async def snapshot(self, dest: Path) -> None:
        """Copy the live database into the new file ``dest``, consistent as of one instant,
        while the bot keeps writing; ``dest`` is a self-contained file."""
        ...

    async def check(self, path: Path) -> DatabaseCheck:
        """Integrity, foreign keys, schema version and row counts of the file at ``path``;
        raises ``StorageError`` when it is not a readable database at all."""
        ...

    async def schema(self, path: Path) -> frozenset[SchemaObject]:
        """Every object in the schema of the (not live) file at ``path``, read with
        ``trusted_schema`` off; raises ``StorageError`` when it cannot be read."""
        ...

    async def reference_schema(self, version: int) -> frozenset[SchemaObject]:
        """The schema the migrations 1..``version`` create in an empty database."""
        ...

    def candidate(self, path: Path) -> AbstractAsyncContextManager[Callable[..., UnitOfWork]]:
        """Read-only units of work on the (not live) file at ``path`` (``trusted_schema``
        off), for checks such as its audit chain; raises ``StorageError`` when it cannot be
        opened."""
        ...

    async def end_sessions(
        self, path: Path, at: datetime, reason: EndReason, new_stamp: str = ""
    ) -> int:
        """End every live session in the (not live) database file at ``path``; return how
        many. With ``new_stamp``, every account's security stamp becomes that value."""
        ...

    async def live_session_users(self, path: Path, at: datetime) -> list[int]:
        """Telegram users with a live session at ``at`` in the database file at ``path`` (read
        only); raises ``StorageError`` when it cannot be read."""
        ...

    async def carry_deliveries(self, live: Path, candidate: Path) -> int:
        """Mark as delivered in the (not live) file ``candidate`` every alert and owner notice
        the live file at ``live`` already delivered or gave up, so a restore does not send them
        again, and carry the live off-site state over whole; return how many rows changed.
        Raises ``StorageError`` when either cannot be read."""
        ...

    def exclusive(
        self, guard: Callable[[UnitOfWork], Awaitable[None]] | None = None
    ) -> AbstractAsyncContextManager[Callable[[], Awaitable[None]]]:
        """Hold off every unit of work. Yields ``close()``, which closes the live connection
        so the file may be replaced; leaving the block reopens (and migrates) the database.
        ``guard`` first runs on a unit of work of the live database (raising refuses)."""
        ...

    async def install(self, candidate: Path) -> None:
        """Inside :meth:`exclusive`, after ``close()``: make ``candidate`` (a file in the same
        folder) the live database durably; raises ``StorageError`` when another process still
        has the database open."""
        ...
