"""storage/sqlite_connection.py: the same rows, counters and errors as aiosqlite's cursor, in one
thread trip per statement (longer results read on in chunks, never all at once); and
storage/inline_reads.py: read-only units of work read in the event loop, cannot write, and let
other tasks run during a long result."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from core.leases import Lease
from storage.database import Database
from storage.inline_reads import YIELD_EVERY, InlineConnection, open_reader
from storage.leases_repository import SqliteLeasesRepository
from storage.sqlite_connection import FIRST_ROWS, OneTripConnection

pytestmark = pytest.mark.sqlite_only(reason="the SQLite adapter over aiosqlite itself")


class CountingConnection(aiosqlite.Connection):
    trips = 0

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.trips += 1
        return await super()._execute(fn, *args, **kwargs)


@pytest.fixture
async def conn(tmp_path: Path) -> AsyncIterator[CountingConnection]:
    path = tmp_path / "t.db"
    raw = CountingConnection(lambda: sqlite3.connect(path, isolation_level=None), 64)
    await raw
    await raw.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")
    try:
        yield raw
    finally:
        await raw.close()


async def test_a_select_is_one_trip(conn: CountingConnection) -> None:
    one = OneTripConnection(conn)
    await (await one.execute("INSERT INTO t (v) VALUES (?)", ("a",))).fetchone()
    before = conn.trips
    async with one.execute("SELECT id, v FROM t WHERE v = ?", ("a",)) as cur:
        assert await cur.fetchone() == (1, "a")
        assert await cur.fetchone() is None
    assert conn.trips == before + 1


async def test_long_results_come_whole_and_in_order(conn: CountingConnection) -> None:
    one = OneTripConnection(conn)
    count = FIRST_ROWS * 3 + 5
    await one.executemany("INSERT INTO t (v) VALUES (?)", [(f"v{k:04}",) for k in range(count)])
    async with one.execute("SELECT v FROM t ORDER BY id") as cur:
        rows = await cur.fetchall()
    assert [r[0] for r in rows] == [f"v{k:04}" for k in range(count)]
    async with one.execute("SELECT v FROM t ORDER BY id") as cur:
        first = await cur.fetchone()
        rest = [row async for row in cur]
    assert [first, *rest] == rows
    async with one.execute("SELECT v FROM t ORDER BY id") as cur:
        assert await cur.fetchone() == rows[0]  # left unread: closed on leaving
    cursor = await one.execute("SELECT COUNT(*) FROM t")
    assert await cursor.fetchall() == [(count,)]


async def test_counters_and_errors_as_sqlite_gives_them(conn: CountingConnection) -> None:
    one = OneTripConnection(conn)
    inserted = await one.execute("INSERT INTO t (v) VALUES (?)", ("x",))
    assert inserted.lastrowid == 1
    returned = await one.execute("INSERT INTO t (v) VALUES (?) RETURNING id", ("y",))
    assert await returned.fetchone() == (2,)
    updated = await one.execute("UPDATE t SET v = v || '!'")
    assert updated.rowcount == 2
    with pytest.raises(sqlite3.IntegrityError):  # raised by execute, as before
        await one.execute("INSERT INTO t (v) VALUES (?)", ("x!",))
    async with one.execute("SELECT v FROM t ORDER BY id") as cur:
        assert await cur.fetchall() == [("x!",), ("y!",)]  # the refused insert left nothing


async def test_one_transaction_with_the_raw_connection(conn: CountingConnection) -> None:
    one = OneTripConnection(conn)
    await one.execute("BEGIN IMMEDIATE")
    await one.execute("INSERT INTO t (v) VALUES ('gone')")
    await one.execute("ROLLBACK")
    async with conn.execute("SELECT COUNT(*) FROM t") as cur:
        assert await cur.fetchone() == (0,)


# --- read-only units of work: storage/inline_reads.py -------------------------------------


async def test_a_read_only_unit_cannot_write_and_sees_what_was_committed(tmp_path: Path) -> None:
    db = Database(tmp_path / "verzek.db")
    await db.open()
    try:
        async with db.unit_of_work() as uow:
            assert await uow.leases.create(Lease("jobs", "me", datetime(2030, 1, 1, tzinfo=UTC)))
            await uow.commit()
        async with db.unit_of_work(read_only=True) as uow:
            assert isinstance(uow.leases, SqliteLeasesRepository)
            conn = uow.leases._conn
            async with conn.execute("SELECT name, holder FROM job_leases") as cur:
                assert await cur.fetchall() == [("jobs", "me")]
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                await conn.execute("DELETE FROM job_leases")
        async with db.unit_of_work(read_only=True) as uow:
            assert isinstance(uow.leases, SqliteLeasesRepository)
            async with uow.leases._conn.execute("SELECT COUNT(*) FROM job_leases") as cur:
                assert await cur.fetchone() == (1,)  # nothing was deleted
    finally:
        await db.close()


async def test_a_long_read_lets_other_tasks_run(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE t (v INTEGER)")
        raw.executemany("INSERT INTO t VALUES (?)", [(k,) for k in range(YIELD_EVERY * 4)])
    reader = open_reader(path, 1000)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        before = ticks
        async with InlineConnection(reader).execute("SELECT v FROM t ORDER BY v") as cur:
            rows = await cur.fetchall()
        assert [r[0] for r in rows] == list(range(YIELD_EVERY * 4))
        assert ticks - before >= 3  # the loop turned between chunks
    finally:
        task.cancel()
        reader.close()
