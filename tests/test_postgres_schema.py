"""The PostgreSQL schema is the SQLite schema (issue 21, SPEC §13), version by version.

Both engines run their own migrations up to the same version; their catalogs must then agree
table by table: column names, types' affinity, NOT NULL, defaults, primary keys, unique
constraints, indexes (columns, uniqueness, partial predicate), CHECKs and foreign keys. The
only difference allowed is named here: licenses.stars_payment_id comes last on PostgreSQL
(0019 alters the table in place where SQLite rebuilds it), and PostgreSQL refuses TRUNCATE of
the append-only tables with triggers SQLite has no need for. The PostgreSQL migrator keeps
storage/migrator.py's contract: same numbers and names, one transaction per migration under
the fleet's writer lock, a newer database refused untouched.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from core.errors import StorageError
from storage import migrator as sqlite_migrator
from storage.migrator import Migration
from storage.postgres import migrator as pg_migrator
from tests.support import postgres, schema_catalog

# Tables whose id the code always gives (the audit chain numbers its rows; one key_check row).
_IDS_CHOSEN_BY_THE_CODE = {"audit_events", "key_check"}
pytestmark = pytest.mark.postgres_only

VERSIONS = list(range(1, sqlite_migrator.code_schema_version() + 1))
_TRUNCATE_TRIGGERS = {
    "audit_events_no_truncate": "audit_events",
    "audit_anchors_no_truncate": "audit_anchors",
}


async def _sqlite_at(path: Path, version: int) -> sqlite3.Connection:
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await sqlite_migrator.migrate(conn, up_to=version)
    return sqlite3.connect(path)


async def _postgres_at(version: int) -> tuple[asyncpg.Connection, str]:
    database = postgres.fresh_database(up_to=version)
    return await asyncpg.connect(database.url), database.name


def test_every_sqlite_migration_has_its_postgres_twin():
    sqlite_names = [(m.version, m.name) for m in sqlite_migrator.available_migrations()]
    pg_names = [(m.version, m.name) for m in pg_migrator.available_migrations()]
    assert pg_names == sqlite_names
    assert pg_migrator.code_schema_version() == sqlite_migrator.code_schema_version()


@pytest.mark.parametrize("version", VERSIONS)
async def test_catalogs_agree_at_every_version(version, postgres_server, tmp_path):
    lite = await _sqlite_at(tmp_path / "verzek.db", version)
    pg, name = await _postgres_at(version)
    try:
        expected = schema_catalog.sqlite_catalog(lite)
        found = await schema_catalog.postgres_catalog(pg)
        sqlite_triggers = schema_catalog.sqlite_triggers(lite)
        pg_triggers = await schema_catalog.postgres_triggers(pg)
        collations = await schema_catalog.postgres_text_collations(pg)
    finally:
        lite.close()
        await pg.close()
        postgres.drop_database(name)

    # id_counters is the twin of sqlite_sequence (left out of the SQLite catalog).
    assert sorted(found) == sorted([*expected, "id_counters"])
    for table, want in expected.items():
        got = found[table]
        assert got.columns == want.columns, table
        column_order = list(want.columns)
        if table == "licenses" and "stars_payment_id" in column_order:
            column_order.remove("stars_payment_id")
            column_order.append("stars_payment_id")
        assert list(got.columns) == column_order, table
        assert got.primary_key == want.primary_key, table
        assert got.named_indexes == want.named_indexes, table
        assert got.unique_constraints == want.unique_constraints, table
        assert got.checks == want.checks, table
        assert got.foreign_keys == want.foreign_keys, table

    extra = {k: v for k, v in _TRUNCATE_TRIGGERS.items() if v in expected}
    numbered = {
        f"{table}_assign_id": table
        for table, want in expected.items()
        if want.primary_key == ("id",) and table not in _IDS_CHOSEN_BY_THE_CODE
    }
    assert pg_triggers == {**sqlite_triggers, **extra, **numbered}
    # Text compares byte by byte, as SQLite's BINARY: ISO times, hashes and ids sort alike
    # whatever locale the operator's database was created with.
    assert collations
    assert set(collations.values()) == {"C"}


def test_the_comparison_sees_a_difference():
    """The normalisation is no blindfold: a changed literal, operator or column shows."""
    spirit = schema_catalog.spirit
    assert spirit("status IN ('a', 'b')") == spirit("(status = ANY (ARRAY['a'::text, 'b'::text]))")
    assert spirit("length(label) BETWEEN 1 AND 32") == spirit(
        "((length(label) >= 1) AND (length(label) <= 32))"
    )
    assert spirit("status IN ('a', 'b')") != spirit("status IN ('a', 'c')")
    assert spirit("ends_at > starts_at") != spirit("ends_at >= starts_at")
    assert spirit("ended_at IS NULL") != spirit("ended_at IS NOT NULL")
    assert spirit("a IS NULL AND b = 1") != spirit("a IS NULL OR b = 1")
    assert spirit("length(label) BETWEEN 1 AND 32") != spirit("length(label) BETWEEN 1 AND 33")


async def test_migrating_an_up_to_date_database_does_nothing(postgres_url):
    conn = await asyncpg.connect(postgres_url)
    try:
        before = await conn.fetchval("SELECT count(*) FROM schema_migrations")
        assert await pg_migrator.migrate(conn) == []
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == before
        assert await pg_migrator.current_version(conn) == pg_migrator.code_schema_version()
    finally:
        await conn.close()


async def test_a_newer_database_is_refused_untouched(postgres_url):
    conn = await asyncpg.connect(postgres_url)
    try:
        newer = pg_migrator.code_schema_version() + 1
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', 'x')",
            newer,
        )
        with pytest.raises(StorageError, match="upgrade Verzek Guard"):
            await pg_migrator.migrate(conn)
        assert await pg_migrator.current_version(conn) == newer
    finally:
        await conn.close()


async def test_a_failed_migration_leaves_the_previous_version(postgres_server, monkeypatch):
    database = postgres.fresh_database(migrated=False)
    real = pg_migrator.available_migrations()
    broken = [
        *real[:2],
        Migration(3, real[2].name, "CREATE TABLE half_done (x BIGINT); SELECT 1/0;"),
    ]
    monkeypatch.setattr(pg_migrator, "available_migrations", lambda: broken)
    conn = await asyncpg.connect(database.url)
    try:
        with pytest.raises(StorageError, match="0003_twofactor failed"):
            await pg_migrator.migrate(conn)
        assert await pg_migrator.current_version(conn) == 2
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
    finally:
        await conn.close()
        postgres.drop_database(database.name)


async def test_two_instances_starting_at_once_apply_each_migration_once(postgres_server):
    database = postgres.fresh_database(migrated=False)
    first, second = [await asyncpg.connect(database.url) for _ in range(2)]
    try:
        applied = await asyncio.gather(pg_migrator.migrate(first), pg_migrator.migrate(second))
        versions = sorted(m.version for batch in applied for m in batch)
        assert versions == VERSIONS
        rows = await first.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == VERSIONS
    finally:
        await first.close()
        await second.close()
        postgres.drop_database(database.name)


async def test_ids_count_as_on_sqlite(postgres_url):
    """1, 2, 3 as SQLite's AUTOINCREMENT gives them: a failed or rolled-back insert gives its
    number back (a sequence would skip it), an explicit id moves the counter past it, and a
    deleted id is never given again."""
    conn = await asyncpg.connect(postgres_url)

    async def user(email: str) -> int:
        return int(
            await conn.fetchval(
                "INSERT INTO users (email, password_hash, referral_code, created_at)"
                " VALUES ($1, 'h', $1, 't') RETURNING id",
                email,
            )
        )

    try:
        assert await user("a@x") == 1
        with pytest.raises(asyncpg.UniqueViolationError):
            await user("a@x")
        async with conn.transaction():
            assert await user("b@x") == 2
            await conn.execute("SELECT 1")
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await user("c@x")
                raise RuntimeError("rolled back")
        assert await user("c@x") == 3
        await conn.execute(
            "INSERT INTO users (id, email, password_hash, referral_code, created_at)"
            " VALUES (10, 'd@x', 'h', 'd', 't')"
        )
        assert await user("e@x") == 11
        await conn.execute("DELETE FROM users WHERE id = 11")
        assert await user("f@x") == 12
    finally:
        await conn.close()


def test_the_server_is_reached_on_its_socket_only(postgres_server):
    settings = postgres_server.psql(
        "SELECT current_setting('listen_addresses') || '|' || current_setting('fsync')"
    )
    assert settings.strip() == "|off"
