"""Attacker's notebook: I can run SQL statements as the bot (an injection, a stolen database
password), on SQLite or on PostgreSQL, and I want the audit log to say something else.

1. Rewrite a row: UPDATE it, or "insert" over it with an upsert (ON CONFLICT DO UPDATE).
2. Remove rows: DELETE one in the middle or at the tail; on PostgreSQL also TRUNCATE, which
   skips row triggers (with CASCADE, or RESTART IDENTITY).
3. The anchors that pin the chain head: delete one, change a posted one, or change the link of
   one not posted yet so it gets posted with my value.

What I get: every one refused by the database itself with "append-only" (or "posted once"),
and nothing written, on both engines. What is not claimed: the owner of the tables can drop
the triggers (as anyone with the SQLite file can); the keyed chain and its anchors catch what
is done then (tests/attacks/test_audit_evidence.py, test_sealed_backup_tampering.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import pytest

from storage.migrator import migrate


class Refused(Exception):
    """The engine refused the statement (a trigger raised)."""


class Raw:
    """One connection of either engine, autocommit, SQL with literals only (portable)."""

    def __init__(self, engine: str, conn: Any) -> None:
        self.engine = engine
        self._conn = conn

    async def execute(self, sql: str) -> None:
        try:
            await self._conn.execute(sql)
        except (sqlite3.IntegrityError, asyncpg.RestrictViolationError) as exc:
            raise Refused(str(exc)) from exc

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.engine == "sqlite":
            async with self._conn.execute(sql) as cursor:
                return [tuple(row) for row in await cursor.fetchall()]
        return [tuple(row) for row in await self._conn.fetch(sql)]


@pytest.fixture(params=["sqlite", "postgres"])
async def raw(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Raw]:
    if request.param == "sqlite":
        async with aiosqlite.connect(tmp_path / "verzek.db", isolation_level=None) as lite:
            await migrate(lite)
            yield Raw("sqlite", lite)
        return
    pg = await asyncpg.connect(request.getfixturevalue("postgres_url"))
    try:
        yield Raw("postgres", pg)
    finally:
        await pg.close()


def _link(n: int) -> str:
    return f"{n:064x}"


async def _five_rows(raw: Raw) -> list[tuple[Any, ...]]:
    for n in range(1, 6):
        await raw.execute(
            "INSERT INTO audit_events (id, ts, event_type, severity, account_id,"
            " telegram_user_id, details, prev_hash, hash, key_id) VALUES"
            f" ({n}, '2026-12-01T10:00:0{n}.000000+00:00', 'LOGIN_FAILED', 'warning', 7, 70,"
            f" '{{\"n\":{n}}}', '{_link(n - 1)}', '{_link(n)}', 'k1')"
        )
    await raw.execute(
        f"INSERT INTO audit_head (singleton, last_id, last_hash) VALUES (1, 5, '{_link(5)}')"
    )
    return await _all(raw)


async def _all(raw: Raw) -> list[tuple[Any, ...]]:
    return await raw.rows("SELECT * FROM audit_events ORDER BY id")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET details = '{\"n\":99}' WHERE id = 3",
        "UPDATE audit_events SET severity = 'info'",
        "UPDATE audit_events SET id = id + 100 WHERE id = 5",
        "INSERT INTO audit_events (id, ts, event_type, severity, details, prev_hash, hash)"
        " VALUES (3, 'x', 'LOGIN_OK', 'info', '{}', 'p', 'h')"
        " ON CONFLICT (id) DO UPDATE SET details = excluded.details",
        "DELETE FROM audit_events WHERE id = 3",
        "DELETE FROM audit_events WHERE id = 5",
        "DELETE FROM audit_events",
    ],
)
async def test_audit_rows_cannot_be_rewritten_or_removed(raw, statement):
    before = await _five_rows(raw)
    with pytest.raises(Refused, match="audit_events is append-only"):
        await raw.execute(statement)
    assert await _all(raw) == before


@pytest.mark.parametrize(
    "statement",
    [
        # Without CASCADE the foreign keys of alerts/user_notices refuse it already; with it,
        # the statement trigger does.
        "TRUNCATE audit_events CASCADE",
        "TRUNCATE audit_events RESTART IDENTITY CASCADE",
        "TRUNCATE alerts, alert_dedupe, user_notices, audit_events",
    ],
)
async def test_truncate_is_refused_on_postgres(raw, statement):
    if raw.engine == "sqlite":
        pytest.skip("SQLite has no TRUNCATE (DELETE without WHERE is refused above)")
    before = await _five_rows(raw)
    with pytest.raises(Refused, match="audit_events is append-only"):
        await raw.execute(statement)
    assert await _all(raw) == before


async def test_appending_is_what_stays_allowed(raw):
    before = await _five_rows(raw)
    await raw.execute(
        "INSERT INTO audit_events (id, ts, event_type, severity, details, prev_hash, hash)"
        f" VALUES (6, '2026-12-01T10:00:06.000000+00:00', 'LOGIN_OK', 'info', '{{}}',"
        f" '{_link(5)}', '{_link(6)}')"
    )
    assert (await _all(raw))[:5] == before
    assert len(await _all(raw)) == 6


async def _anchor(raw: Raw, *, posted: bool) -> list[tuple[Any, ...]]:
    await raw.execute(
        "INSERT INTO audit_anchors (last_audit_id, link, reason, recorded_at)"
        f" VALUES (5, '{_link(5)}', 'hourly', '2026-12-01T10:00:00.000000+00:00')"
    )
    if posted:
        await raw.execute(
            "UPDATE audit_anchors SET chat_id = -100, message_id = 42,"
            " posted_at = '2026-12-01T10:00:01.000000+00:00'"
        )
    return await raw.rows("SELECT * FROM audit_anchors ORDER BY id")


async def test_an_anchor_is_posted_once(raw):
    recorded = await _anchor(raw, posted=False)
    assert recorded[0][5:] == (None, None, None)
    await raw.execute(
        "UPDATE audit_anchors SET chat_id = -100, message_id = 42,"
        " posted_at = '2026-12-01T10:00:01.000000+00:00'"
    )
    posted = await raw.rows("SELECT * FROM audit_anchors ORDER BY id")
    assert posted[0][5:] == (-100, 42, "2026-12-01T10:00:01.000000+00:00")
    with pytest.raises(Refused, match="posted once"):
        await raw.execute("UPDATE audit_anchors SET message_id = 43")
    assert await raw.rows("SELECT * FROM audit_anchors ORDER BY id") == posted


@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE audit_anchors SET link = '{_link(4)}'",
        "UPDATE audit_anchors SET last_audit_id = 4",
        "UPDATE audit_anchors SET reason = 'other'",
        "UPDATE audit_anchors SET recorded_at = '2026-12-01T11:00:00.000000+00:00'",
        "UPDATE audit_anchors SET id = 9",
    ],
)
async def test_an_unposted_anchor_keeps_what_it_recorded(raw, statement):
    before = await _anchor(raw, posted=False)
    with pytest.raises(Refused, match="posted once"):
        await raw.execute(statement)
    assert await raw.rows("SELECT * FROM audit_anchors ORDER BY id") == before


async def test_anchors_cannot_be_removed(raw):
    before = await _anchor(raw, posted=True)
    with pytest.raises(Refused, match="audit_anchors is append-only"):
        await raw.execute("DELETE FROM audit_anchors")
    if raw.engine == "postgres":
        with pytest.raises(Refused, match="audit_anchors is append-only"):
            await raw.execute("TRUNCATE audit_anchors")
    assert await raw.rows("SELECT * FROM audit_anchors ORDER BY id") == before
