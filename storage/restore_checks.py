"""What a restore candidate must prove before it is trusted (SPEC §8a), the SQLite side.

- Its schema as SQLite stores it (every table, index, trigger and view in ``sqlite_schema``,
  the SQL normalised for whitespace) next to the schema the migrations themselves create for
  its version, built once per version in a temp file (:func:`reference_schema`).
- Units of work on the candidate, read only, so core's own audit-chain verification can walk
  its chain (:func:`candidate_units`).

Every connection to a candidate has ``trusted_schema`` off: a trigger or view planted in it
cannot call a function with side effects while it is being examined, and ``query_only`` refuses
any write.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path

import aiosqlite

from core.backups.ports import SchemaObject
from core.errors import StorageError
from core.ports import UnitOfWork
from storage.migrator import code_schema_version, migrate
from storage.secrets_repository import ENCRYPTED_COLUMNS
from storage.unit_of_work import SqliteUnitOfWork, TransactionLock

# ANALYZE's statistics tables steer only the query planner: an operator may have run it.
_SCHEMA_SQL = (
    "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT IN "
    "('sqlite_stat1', 'sqlite_stat2', 'sqlite_stat3', 'sqlite_stat4')"
)
_references: dict[int, frozenset[SchemaObject]] = {}
_building = asyncio.Lock()


def _normalised(sql: str | None) -> str:
    return " ".join((sql or "").split())


def _objects(conn: sqlite3.Connection) -> frozenset[SchemaObject]:
    return frozenset(
        SchemaObject(str(kind), str(name), str(table), _normalised(sql))
        for kind, name, table, sql in conn.execute(_SCHEMA_SQL).fetchall()
    )


def _read_only_uri(path: Path) -> str:
    return f"{path.resolve().as_uri()}?mode=ro"


def schema_of(path: Path) -> frozenset[SchemaObject]:
    """Every object in ``sqlite_schema`` of the (not live) file at ``path``."""
    if not path.is_file():
        raise StorageError(f"no database file at {path}")
    try:
        with closing(sqlite3.connect(_read_only_uri(path), uri=True, isolation_level=None)) as conn:
            conn.execute("PRAGMA trusted_schema = OFF")
            conn.execute("PRAGMA query_only = ON")
            return _objects(conn)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read the schema of {path.name} ({exc})") from None


async def reference_schema(version: int) -> frozenset[SchemaObject]:
    """The schema migrations 1..``version`` create in an empty database (cached per version)."""
    async with _building:
        cached = _references.get(version)
        if cached is not None:
            return cached
        with tempfile.TemporaryDirectory(prefix="verzek-schema-") as folder:
            path = Path(folder) / "reference.db"
            conn = await aiosqlite.connect(path, isolation_level=None)
            try:
                # As Database.open does: the same pragmas shape what ALTER TABLE writes.
                await conn.execute("PRAGMA journal_mode = WAL")
                await conn.execute("PRAGMA foreign_keys = ON")
                await migrate(conn, up_to=version)
            finally:
                await conn.close()
            built = await asyncio.to_thread(schema_of, path)
        _references[version] = built
        return built


def _version_of(path: Path) -> int:
    with closing(sqlite3.connect(_read_only_uri(path), uri=True, isolation_level=None)) as conn:
        conn.execute("PRAGMA trusted_schema = OFF")
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


@asynccontextmanager
async def candidate_units(path: Path) -> AsyncIterator[Callable[..., UnitOfWork]]:
    """Read-only units of work on the candidate file at ``path``, one connection of its own.

    A candidate of an older schema version is read through a migrated copy (in a temp folder
    next to it, removed afterwards): the code's own checks, such as the audit chain's, read
    the code's schema. Its schema was compared with that version's before, so the migrations
    run on nothing planted."""
    if not await asyncio.to_thread(path.is_file):
        raise StorageError(f"no database file at {path}")
    try:
        older = await asyncio.to_thread(_version_of, path) < code_schema_version()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path.name} ({exc})") from None
    if not older:
        async with _units(path) as units:
            yield units
        return
    with tempfile.TemporaryDirectory(prefix=".verzek-migrated-", dir=path.parent) as folder:
        copy = Path(folder) / path.name
        await asyncio.to_thread(shutil.copyfile, path, copy)
        conn = await aiosqlite.connect(copy, isolation_level=None)
        try:
            await conn.execute("PRAGMA trusted_schema = OFF")
            await conn.execute("PRAGMA foreign_keys = ON")
            await migrate(conn)
        except sqlite3.Error as exc:
            raise StorageError(f"{path.name} does not migrate ({exc})") from None
        finally:
            await conn.close()
        async with _units(copy) as units:
            yield units


@asynccontextmanager
async def _units(path: Path) -> AsyncIterator[Callable[..., UnitOfWork]]:
    try:
        conn = await aiosqlite.connect(_read_only_uri(path), uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path.name} ({exc})") from None
    try:
        await conn.execute("PRAGMA trusted_schema = OFF")
        await conn.execute("PRAGMA query_only = ON")
        lock = TransactionLock()

        def units(*, read_only: bool = True) -> UnitOfWork:
            return SqliteUnitOfWork(lambda: conn, lock, read_only=True, columns=ENCRYPTED_COLUMNS)

        yield units
    finally:
        await conn.close()
