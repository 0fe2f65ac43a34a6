"""Versioned schema migrations: ``storage/migrations/NNNN_name.sql``, applied in order.

Each migration runs in its own ``BEGIN IMMEDIATE`` transaction together with the row that
records it in ``schema_migrations`` (and ``PRAGMA user_version``), so a failed migration leaves
the database at the previous version, and two processes starting at once cannot both apply it.

A migration that rebuilds a table others refer to starts with the line
``-- migrator: foreign_keys off``: foreign keys are then off while it runs (SQLite cannot switch
them inside a transaction), and ``PRAGMA foreign_key_check`` must come back empty before it
commits (https://www.sqlite.org/lang_altertable.html#otheralter).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources

import aiosqlite

from core.clock import SystemClock, to_iso
from core.errors import StorageError

_NAME = re.compile(r"^([0-9]{4})_([a-z0-9_]+)\.sql$")
_FOREIGN_KEYS_OFF = "-- migrator: foreign_keys off"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def foreign_keys_off(self) -> bool:
        """True when the migration rebuilds a table and asks for foreign keys off meanwhile."""
        return self.sql.startswith(_FOREIGN_KEYS_OFF)


def available_migrations() -> list[Migration]:
    """Every migration shipped with the code, in version order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
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


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (triggers with BEGIN…END stay whole)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()
    ):
        raise StorageError("a migration ends with an incomplete statement")
    return statements


async def current_version(conn: aiosqlite.Connection) -> int:
    """The highest applied migration (0 for a new database)."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    async with conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def migrate(conn: aiosqlite.Connection, up_to: int | None = None) -> list[Migration]:
    """Apply every pending migration (or those up to version ``up_to``: restore checks build
    the schema of an older version with it); return the ones applied."""
    migrations = available_migrations()[:up_to]
    applied: list[Migration] = []
    while True:
        version = await current_version(conn)
        rebuild = version < len(migrations) and migrations[version].foreign_keys_off
        if rebuild:
            await conn.execute("PRAGMA foreign_keys = OFF")
        try:
            migration = await _apply_next(conn, migrations, foreign_keys_off=rebuild)
        finally:
            if rebuild:
                await conn.execute("PRAGMA foreign_keys = ON")
        if migration is None:
            return applied
        if migration is not _RETRY:
            applied.append(migration)


_RETRY = Migration(0, "another process moved the schema on: look again", "")


async def _apply_next(
    conn: aiosqlite.Connection, migrations: list[Migration], *, foreign_keys_off: bool
) -> Migration | None:
    """Apply the next migration in one transaction (None when the database is up to date)."""
    latest = len(migrations)
    await conn.execute("BEGIN IMMEDIATE")
    try:
        version = await current_version(conn)
        if version > latest:
            raise StorageError(
                f"the database schema is version {version} but this code knows only up to "
                f"{latest}: upgrade Verzek Guard before using this database"
            )
        if version == latest:
            await conn.execute("COMMIT")
            return None
        migration = migrations[version]
        if migration.foreign_keys_off != foreign_keys_off:
            await conn.execute("ROLLBACK")
            return _RETRY
        try:
            for statement in split_statements(migration.sql):
                await conn.execute(statement)
            if foreign_keys_off:
                async with conn.execute("PRAGMA foreign_key_check") as cur:
                    broken = list(await cur.fetchall())
                if broken:
                    raise sqlite3.IntegrityError(f"foreign keys broken: {broken[:5]}")
        except sqlite3.Error as exc:
            raise StorageError(
                f"migration {migration.version:04d}_{migration.name} failed: {exc}"
            ) from None
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, to_iso(SystemClock().now())),
        )
        await conn.execute(f"PRAGMA user_version = {int(migration.version)}")
        await conn.execute("COMMIT")
        return migration
    except BaseException:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise
