"""Attacker's notebook: I can write the database file, but I do not have the master key.

The trick each time: make the audit log say something other than what happened, and still have
``verzek audit verify`` pass and the admin chat stay quiet.

1. Delete rows: in the middle (a gap; or renumbered and re-linked), at the tail (alone, with the
   head record moved back, with the recorded anchors deleted too).
2. Re-chain without the key: edit a row and recompute every link after it with plain SHA-256
   (as the chain was before it was keyed), or with an HMAC under a key of my own; mark rows as
   "from before keying" to get SHA-256 accepted.
3. Roll the file back to an older copy I kept: a perfectly valid chain, only shorter.

What the operator sees: ``verzek audit verify`` exits 1 naming the row (1, 2), or passes but
prints a last anchor older than the one pinned in the admin chat (3); the bot, at its next
start, tells the admin chat (1, 2, 3) and pins no new anchor, so the evidence stays pinned.
What is not claimed: rows written after the newest anchor can be cut or rolled back without a
trace until the next anchor (at most an hour, or the next backup).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import pytest

from bot.cli import main
from bot.fake_telegram import FakeBotAPI, Message
from bot.jobs.anchors import JOB_NAME
from core.audit.chain import GENESIS_HASH, canonical_bytes, legacy_hash
from core.audit.log import AuditEvent, EventType
from core.audit.ports import AuditRow
from core.authz import OPERATOR
from core.clock import FakeClock, to_iso
from core.config import Settings
from storage.audit_repository import COLUMNS, read_row
from storage.postgres.connection import PgConnection
from tests.support import raw_db
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.running_deployment import RunningBot

ROLLBACK = "The audit log was rolled back or cut"
TAMPERED = "The audit log was tampered with"
ANCHOR = "Audit anchor"


class Deployment(RunningBot):
    """The bot as it runs, restartable over whatever file is on the disk."""

    @property
    def path(self) -> Path:
        return self.settings.database.path

    async def anchor_job(self) -> None:
        """One run of the anchor job as the JobQueue runs it (the first is the start-up
        check)."""
        await self.job(JOB_NAME)

    async def history(self, count: int) -> None:
        """Things happen: ``count`` audited events."""
        assert self.services is not None
        for n in range(count):
            await self.services.audit.record(
                AuditEvent(EventType.LOGOUT, account_id=None, telegram_user_id=5000 + n)
            )

    def admin_chat(self) -> list[str]:
        return [message.plain for message in self.api.sent_to(ADMIN_CHAT_ID)]

    def pinned(self) -> Message | None:
        return self.api.pins.newest(ADMIN_CHAT_ID, self.api.messages)


@pytest.fixture
async def deployment(settings: Settings, clock: FakeClock) -> AsyncIterator[Deployment]:
    # Telegram's clock is the test's clock, so message dates and audit times agree.
    api = FakeBotAPI(clock=lambda: clock.now().timestamp())
    running = Deployment(settings, clock, api)
    await running.start()
    yield running
    await running.stop()


async def anchored_history(deployment: Deployment, rows: int = 8) -> None:
    """A history with one anchor posted and pinned in the admin chat."""
    await deployment.history(rows)
    await deployment.anchor_job()
    assert any(ANCHOR in text for text in deployment.admin_chat())
    assert deployment.pinned() is not None


async def verify_cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """``verzek audit verify`` as the operator runs it (the bot stopped)."""
    assert settings.encryption.master_key is not None
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", settings.encryption.master_key.get())
    monkeypatch.setenv("VERZEK_DB", str(settings.database.path))
    if settings.database.url is not None:
        monkeypatch.setenv("VERZEK_DATABASE_URL", settings.database.url.get())
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["audit", "verify"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


async def rows_of(place: Settings) -> list[AuditRow]:
    found = await raw_db.rows(place, f"SELECT {COLUMNS} FROM audit_events ORDER BY id")
    return [read_row(raw) for raw in found]


_GUARDS = ("audit_events_no_update", "audit_events_no_delete", "audit_anchors_no_delete")


async def _with_guards_off(place: Settings, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    """What I can do with write access: drop the append-only guards (SQLite: the triggers;
    PostgreSQL: as the tables' owner, disable them) and run any SQL."""
    if place.database.url is None:
        async with aiosqlite.connect(place.database.path) as conn:
            for trigger in _GUARDS:
                await conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            for sql, params in statements:
                await conn.execute(sql, params)
            await conn.commit()
        return
    pg = await asyncpg.connect(place.database.url.get())
    try:
        for trigger in _GUARDS:
            table = trigger.rsplit("_no_", 1)[0]
            await pg.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        async with pg.transaction():
            for sql, params in statements:
                await PgConnection(pg).execute(sql, params)
    finally:
        await pg.close()


async def tamper(
    place: Settings, *statements: str, params: list[tuple[Any, ...]] | None = None
) -> None:
    """Drop the append-only guards and run any SQL."""
    await _with_guards_off(
        place,
        [(sql, (params or [])[index] if params else ()) for index, sql in enumerate(statements)],
    )


async def rewrite_chain(
    place: Settings, rows: list[AuditRow], link: Callable[[AuditRow], str], *, from_id: int
) -> None:
    """Replace rows ``from_id``… with ``rows`` (renumbered and re-linked with ``link``), and
    move the head record to the new tip: a chain that fits, except for the key."""
    kept = [row for row in await rows_of(place) if row.id < from_id]
    prev = kept[-1].hash if kept else GENESIS_HASH
    rebuilt = []
    for offset, row in enumerate(rows):
        draft = replace(row, id=from_id + offset, prev_hash=prev, hash="")
        prev = link(draft)
        rebuilt.append(replace(draft, hash=prev))
    statements: list[tuple[str, tuple[Any, ...]]] = [
        ("DELETE FROM audit_events WHERE id >= ?", (from_id,))
    ]
    for row in rebuilt:
        statements.append(
            (
                f"INSERT INTO audit_events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    to_iso(row.ts),
                    row.event_type,
                    row.severity,
                    row.account_id,
                    row.telegram_user_id,
                    _details(row),
                    row.prev_hash,
                    row.hash,
                    row.key_id,
                ),
            )
        )
    statements.append(
        ("UPDATE audit_head SET last_id = ?, last_hash = ?", (rebuilt[-1].id, rebuilt[-1].hash))
    )
    await _with_guards_off(place, statements)


def _details(row: AuditRow) -> str:
    return json.dumps(row.details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_link(row: AuditRow) -> str:
    return hashlib.sha256(canonical_bytes(row)).hexdigest()


def my_key_link(row: AuditRow) -> str:
    return hmac.new(b"k" * 32, canonical_bytes(row), hashlib.sha256).hexdigest()


async def restart_and_check(deployment: Deployment) -> list[str]:
    """The bot starts again over the file on disk; its start-up check runs. Returns what the
    admin chat got meanwhile."""
    before = len(deployment.admin_chat())
    pinned_before = deployment.pinned()
    await deployment.start()
    await deployment.anchor_job()
    new = deployment.admin_chat()[before:]
    if any(ROLLBACK in text or TAMPERED in text for text in new):
        # The evidence stays: nothing new posted, the same anchor pinned.
        assert not any(ANCHOR in text for text in new)
        assert deployment.pinned() is pinned_before
    return new


# --- 1. deleting rows ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["middle", "first", "middle, renumbered and re-linked"])
async def test_deleting_rows_in_the_middle_is_detected(
    deployment: Deployment, where: str, monkeypatch, capsys
) -> None:
    await anchored_history(deployment)
    await deployment.history(4)  # after the anchor
    await deployment.stop()
    place = deployment.settings
    if where == "middle":
        await tamper(place, "DELETE FROM audit_events WHERE id IN (4, 5)")
    elif where == "first":
        await tamper(place, "DELETE FROM audit_events WHERE id = 1")
    else:  # drop rows 4-5 and close the gap the only way I can: re-link with SHA-256
        rows = await rows_of(place)
        await rewrite_chain(place, rows[5:], sha256_link, from_id=4)

    code, out = await verify_cli(deployment.settings, monkeypatch, capsys)
    assert code == 1, out
    bad, why = {
        "middle": (6, "row 4 is missing (next is 6)"),
        "first": (2, "row 1 is missing (next is 2)"),
    }.get(where, (4, "is not the HMAC of its contents"))
    assert f"audit chain BROKEN at row {bad}: " in out and why in out, out
    assert "last anchor: #1" in out  # printed all the same, to compare with the chat

    told = await restart_and_check(deployment)
    assert any(TAMPERED in text and f"breaks at row {bad}" in text for text in told), told


@pytest.mark.parametrize("cover", ["nothing", "the head record", "the head and the anchors"])
async def test_deleting_the_newest_rows_is_detected(
    deployment: Deployment, cover: str, monkeypatch, capsys
) -> None:
    await deployment.history(4)
    await deployment.anchor_job()  # anchor of row 4 posted and pinned
    await deployment.history(4)
    assert deployment.services is not None
    await deployment.services.backups.create(OPERATOR)  # the backup records another anchor
    await deployment.anchor_job()  # and it reaches the chat at the next tick
    pinned = deployment.pinned()
    assert pinned is not None and "row 9" in pinned.plain  # 8 events + BACKUP_CREATED
    await deployment.stop()

    statements = ["DELETE FROM audit_events WHERE id > 5"]
    if cover != "nothing":
        statements.append(
            "UPDATE audit_head SET last_id = 5, "
            "last_hash = (SELECT hash FROM audit_events WHERE id = 5)"
        )
    if cover == "the head and the anchors":
        statements.append("DELETE FROM audit_anchors WHERE last_audit_id > 5")
    await tamper(deployment.settings, *statements)

    code, out = await verify_cli(deployment.settings, monkeypatch, capsys)
    if cover == "nothing":
        assert code == 1 and "newest rows are missing: head says row 9" in out, out
    elif cover == "the head record":
        assert code == 1 and "anchor #2 (row 9" in out and "no longer has" in out, out
    else:
        # Everything left in the file is consistent: verify cannot know from the file alone.
        # What it prints is the last anchor the file remembers, which is not the one pinned.
        assert code == 0, out
        assert "last anchor: #1, row 4" in out
        assert "row 9" in pinned.plain and "a newer one there means" in out

    told = await restart_and_check(deployment)
    expected = TAMPERED if cover != "the head and the anchors" else ROLLBACK
    assert any(expected in text for text in told), told
    if expected == ROLLBACK:
        assert any("names row 9" in text and "newest row is 5" in text for text in told)


# --- 2. re-chaining without the key --------------------------------------------------------


@pytest.mark.parametrize("link", [sha256_link, my_key_link], ids=["sha256", "another key"])
async def test_rewriting_a_row_and_recomputing_the_chain_is_detected(
    deployment: Deployment, link: Callable[[AuditRow], str], monkeypatch, capsys
) -> None:
    await anchored_history(deployment)
    await deployment.stop()
    rows = await rows_of(deployment.settings)
    # Row 3 never happened: replace it by a harmless-looking one and re-link everything after.
    rows[2] = replace(rows[2], telegram_user_id=1, details={"note": "nothing to see"})
    await rewrite_chain(deployment.settings, rows[2:], link, from_id=3)

    code, out = await verify_cli(deployment.settings, monkeypatch, capsys)
    assert code == 1 and "BROKEN at row 3" in out and "HMAC" in out, out
    told = await restart_and_check(deployment)
    assert any(TAMPERED in text and "row 3" in text for text in told), told


async def test_passing_rows_off_as_older_than_the_key_is_detected(
    deployment: Deployment, monkeypatch, capsys
) -> None:
    """Unkeyed rows (SHA-256 links) are accepted only before the AUDIT_CHAIN_KEYED seal; I
    mark every row as from before keying and re-link them with SHA-256."""
    await anchored_history(deployment)
    await deployment.stop()
    rows = [replace(row, key_id=None) for row in await rows_of(deployment.settings)]
    rows[2] = replace(rows[2], details={"note": "nothing to see"})
    await rewrite_chain(deployment.settings, rows, legacy_hash, from_id=1)

    code, out = await verify_cli(deployment.settings, monkeypatch, capsys)
    # The chain itself is now a valid unkeyed chain; the recorded anchor gives it away.
    assert code == 1 and "anchor #1" in out and "does not match the log" in out, out
    told = await restart_and_check(deployment)
    assert any(TAMPERED in text for text in told), told


# --- 3. rolling the file back --------------------------------------------------------------


@pytest.mark.sqlite_only(reason="copies the SQLite file back; PostgreSQL's twin is a restore")
@pytest.mark.parametrize("copy_taken", ["before any anchor", "after the first anchor"])
async def test_rolling_the_file_back_to_an_older_copy_is_detected(
    deployment: Deployment, copy_taken: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    old = tmp_path / "old-copy.db"

    async def keep_a_copy() -> None:
        async with aiosqlite.connect(deployment.path) as live, aiosqlite.connect(old) as copy:
            await live.backup(copy)

    await deployment.history(3)
    if copy_taken == "before any anchor":
        await keep_a_copy()
    await deployment.anchor_job()
    if copy_taken == "after the first anchor":
        await keep_a_copy()
    deployment.clock.advance(hours=1, minutes=1)
    await deployment.history(5)  # e.g. a withdrawal I want forgotten
    await deployment.anchor_job()  # the hourly anchor names the newer head
    pinned = deployment.pinned()
    assert pinned is not None and "row 8" in pinned.plain
    await deployment.stop()

    def put_back_the_copy() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{deployment.path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(old, deployment.path)

    await asyncio.to_thread(put_back_the_copy)

    code, out = await verify_cli(deployment.settings, monkeypatch, capsys)
    assert code == 0, out  # an older copy is a valid chain: the file cannot tell
    expected_last = "none recorded yet" if copy_taken == "before any anchor" else "#1, row 3"
    assert f"last anchor: {expected_last}" in out  # …while the chat pins row 8

    told = await restart_and_check(deployment)
    assert any(ROLLBACK in text and "names row 8" in text for text in told), told
    # And it stays said: an hour later, the same alert, still nothing new pinned.
    deployment.clock.advance(hours=1, minutes=1)
    await deployment.anchor_job()
    assert sum(ROLLBACK in text for text in deployment.admin_chat()) == 2


async def test_a_real_restore_of_an_older_backup_is_not_taken_for_a_rollback(
    deployment: Deployment, monkeypatch, capsys
) -> None:
    """The honest twin of the rollback: the operator restores last night's backup. The keyed
    BACKUP_RESTORED row, written after the pinned anchor, explains the shorter chain."""
    assert deployment.services is not None
    await deployment.history(3)
    info = await deployment.services.backups.create(OPERATOR)
    await deployment.anchor_job()
    deployment.clock.advance(hours=1, minutes=1)
    await deployment.history(5)
    await deployment.anchor_job()
    await deployment.stop()
    await deployment.start()
    assert deployment.services is not None
    await deployment.services.backups.restore(OPERATOR, info.name)
    await deployment.stop()

    code, out = await verify_cli(deployment.settings, monkeypatch, capsys)
    assert code == 0, out
    told = await restart_and_check(deployment)
    assert not any(ROLLBACK in text or TAMPERED in text for text in told), told
    assert any(ANCHOR in text for text in told)  # the restored head is anchored and pinned
    pinned = deployment.pinned()
    assert pinned is not None and pinned.plain in told
