"""Versioned schema migrations for PostgreSQL: ``storage/postgres/migrations/NNNN_name.sql``.

The same contract as storage/migrator.py: the files are numbered 1..n without gaps, one for
each SQLite migration of the same number and name, and each is applied in its own transaction
together with the ``schema_migrations`` row that records it, so a failed migration leaves the
database at the previous version. Instances starting at once cannot both apply one: each
transaction first takes the fleet's writer lock (``pg_advisory_xact_lock(WRITER_LOCK_KEY)``,
the lock every write unit of work takes, as SQLite's ``BEGIN IMMEDIATE`` does on one box),
then reads the version again. A database newer than the code is refused, never touched.
"""

from __future__ import annotations

import re
from importlib import resources

import asyncpg

from core.clock import SystemClock, to_iso
from core.errors import StorageError
from storage.migrator import Migration

# The one advisory lock key of the whole fleet's writer ("VERZEK" + 1): write units of work
# (storage/postgres/database.py) and migrations take it for their transaction.
WRITER_LOCK_KEY = 0x5645525A454B01

_NAME = re.compile(r"^([0-9]{4})_([a-z0-9_]+)\.sql$")

_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    ' version BIGINT PRIMARY KEY, name TEXT COLLATE "C" NOT NULL,'
    ' applied_at TEXT COLLATE "C" NOT NULL)'
)


def available_migrations() -> list[Migration]:
    """Every PostgreSQL migration shipped with the code, in version order."""
    found = []
    for entry in resources.files("storage.postgres.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda item: item.version)
    versions = [item.version for item in found]
    if versions != list(range(1, len(found) + 1)):
        raise StorageError(f"migration files are not numbered 1..n without gaps: {versions}")
    return found


def code_schema_version() -> int:
    """The schema version this code expects."""
    return len(available_migrations())


async def current_version(conn: asyncpg.Connection) -> int:
    """The highest applied migration (0 for a new database); reads only, writes nothing."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    version = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    return int(version)


async def migrate(conn: asyncpg.Connection, up_to: int | None = None) -> list[Migration]:
    """Apply every pending migration (or those up to version ``up_to``: restore checks build
    the schema of an older version with it); return the ones applied."""
    migrations = available_migrations()[:up_to]
    applied: list[Migration] = []
    while (migration := await _apply_next(conn, migrations)) is not None:
        applied.append(migration)
    return applied


async def _apply_next(conn: asyncpg.Connection, migrations: list[Migration]) -> Migration | None:
    """Apply the next migration in one transaction (None when the database is up to date)."""
    latest = len(migrations)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITER_LOCK_KEY)
        await conn.execute(_SCHEMA_MIGRATIONS)
        version = await current_version(conn)
        if version > latest:
            raise StorageError(
                f"the database schema is version {version} but this code knows only up to "
                f"{latest}: upgrade Verzek Guard before using this database"
            )
        if version == latest:
            return None
        migration = migrations[version]
        try:
            await conn.execute(migration.sql)  # no arguments: the simple protocol, many statements
        except asyncpg.PostgresError as exc:
            raise StorageError(
                f"migration {migration.version:04d}_{migration.name} failed: {exc}"
            ) from None
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            migration.version,
            migration.name,
            to_iso(SystemClock().now()),
        )
        return migration
