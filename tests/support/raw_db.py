"""The bot's database read (and, for tamper tests, written) directly, as an auditor would:
the SQLite file, or the PostgreSQL database of ``database.url``, whichever the test runs on.

SQL is written with ``?`` placeholders for both (storage/postgres/connection.py numbers them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg

from core.config import Settings
from storage.postgres.connection import PgConnection

# Tables whose rows are the server's own bookkeeping, listed by neither engine's user tables:
# SQLite's sqlite_sequence, and its PostgreSQL twin id_counters (storage/postgres/migrations/
# 0001): a counter moves only with an insert into its table, whose rows are listed.
_PG_TABLES = (
    "SELECT table_name FROM information_schema.tables"
    " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    " AND table_name <> 'id_counters' ORDER BY table_name"
)
_SQLITE_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"


# The bot's settings (either engine), a SQLite file's path, or a PostgreSQL URL.
Target = Settings | Path | str


def where(target: Target) -> str | Path:
    """The PostgreSQL URL or the SQLite file of ``target``."""
    if isinstance(target, Settings):
        url = target.database.url
        return url.get() if url is not None else target.database.path
    return target


async def rows(target: Target, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows ``sql`` selects, as tuples."""
    place = where(target)
    if isinstance(place, str):
        conn = await asyncpg.connect(place)
        try:
            async with PgConnection(conn).execute(sql, params) as cur:
                return [tuple(row) for row in await cur.fetchall()]
        finally:
            await conn.close()
    async with aiosqlite.connect(place) as lite, lite.execute(sql, params) as cur:
        return [tuple(row) for row in await cur.fetchall()]


async def execute(target: Target, sql: str, *params: Any) -> None:
    """Run one statement and commit it (outside the bot, as a tamperer would)."""
    place = where(target)
    if isinstance(place, str):
        conn = await asyncpg.connect(place)
        try:
            await PgConnection(conn).execute(sql, params)
        finally:
            await conn.close()
        return
    async with aiosqlite.connect(place) as lite:
        await lite.execute(sql, params)
        await lite.commit()


async def tables(target: Target, skip: frozenset[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (small databases only), except the tables in ``skip``."""
    place = where(target)
    if isinstance(place, str):
        conn = await asyncpg.connect(place)
        try:
            names = [row[0] for row in await conn.fetch(_PG_TABLES) if row[0] not in skip]
            # One snapshot for all tables. PostgreSQL has no rowid: rows are ordered by every
            # column, first to last, so rows equal in their first column keep one order.
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                out: dict[str, list[tuple[Any, ...]]] = {}
                for name in names:
                    query = f'SELECT * FROM "{name}"'
                    width = len((await conn.prepare(query)).get_attributes())
                    order = ", ".join(str(n) for n in range(1, width + 1))
                    out[name] = [
                        tuple(row) for row in await conn.fetch(f"{query} ORDER BY {order}")
                    ]
                return out
        finally:
            await conn.close()
    names = [name for (name,) in await rows(target, _SQLITE_TABLES) if name not in skip]
    async with aiosqlite.connect(place) as lite:
        out = {}
        for name in names:
            async with lite.execute(f'SELECT * FROM "{name}"') as cur:
                out[name] = [tuple(row) for row in await cur.fetchall()]
        return out


async def integrity(target: Target) -> str:
    """``ok`` when the database is whole: SQLite's ``PRAGMA integrity_check``; on PostgreSQL
    (no file to damage) every constraint is validated."""
    if isinstance(where(target), str):
        [(pending,)] = await rows(
            target, "SELECT COUNT(*) FROM pg_constraint WHERE NOT convalidated"
        )
        return "ok" if pending == 0 else f"{pending} constraints not validated"
    [(verdict,)] = await rows(target, "PRAGMA integrity_check")
    return str(verdict)


def bot_database(env: dict[str, str]) -> Target:
    """The bot's database of a test's ``env`` fixture: its PostgreSQL URL or its file."""
    return env.get("VERZEK_DATABASE_URL") or Path(env["VERZEK_DB"])


async def index_definition(target: Target, name: str) -> str:
    """The CREATE INDEX statement of index ``name``, as the database itself keeps it."""
    if isinstance(where(target), str):
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = ?"
    else:
        query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?"
    [(definition,)] = await rows(target, query, name)
    return str(definition)
