"""The keyed audit chain across its life: rows from before keying, key rotation, and the
commands run with the bot stopped, whose events pass detection and reach the admin chat like
the bot's own (one composition root)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

import storage.migrator as migrator
from bot.cli import main
from bot.jobs.anchors import JOB_NAME
from core.audit.chain import legacy_hash
from core.audit.log import AuditEvent, EventType
from core.config import Settings, load_settings
from core.crypto import generate_master_key
from storage.audit_repository import COLUMNS, read_row
from storage.database import Database
from storage.sql import IntegrityError
from tests.support import raw_db
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness
from tests.support.services import build_services

KEY_CHANGED = "The audit chain's key changed"
DETAILS = '{"note":"before keying"}'


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in ("ENCRYPTION_MASTER_KEY", "ENCRYPTION_OLD_KEYS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


async def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


async def some_events(settings: Settings, count: int = 5) -> None:
    services = await build_services(settings)
    try:
        for n in range(count):
            await services.audit.record(AuditEvent(EventType.LOGOUT, telegram_user_id=700 + n))
    finally:
        await services.aclose()


async def admin_chat_after_start(settings: Settings) -> list[str]:
    """Start the bot over the database and let the outbox deliver what is queued."""
    services = await build_services(settings)
    bot = BotHarness(settings, services, quick_jobs=True)
    await bot.start()
    try:
        await bot.wait_for(lambda: any(KEY_CHANGED in t for t in bot.texts(ADMIN_CHAT_ID)))
        return bot.texts(ADMIN_CHAT_ID)
    finally:
        await bot.stop()
        await services.aclose()


async def test_rotate_key_chains_the_rotation_and_the_admins_hear_of_it(
    settings: Settings, env: dict[str, str], tmp_path: Path, monkeypatch, capsys
) -> None:
    await some_events(settings)
    old_key, new_key = env["ENCRYPTION_MASTER_KEY"], generate_master_key()
    rotated_env = {**env, "ENCRYPTION_MASTER_KEY": new_key, "ENCRYPTION_OLD_KEYS": old_key}
    use_env(monkeypatch, rotated_env)

    code, out = await cli(["rotate-key"], capsys)
    assert code == 0, out
    assert "audit chain: AUDIT_KEY_ROTATED chained as row 6" in out
    code, out = await cli(["rotate-key"], capsys)  # again: nothing more to chain
    assert code == 0 and "audit chain: already under the newest key" in out, out
    code, out = await cli(["audit", "verify"], capsys)
    assert code == 0 and "audit chain OK: 7 rows verified" in out, out  # + its alert's row

    # The command's event went through the same detector as the bot's: an alert is queued in
    # the outbox, and the bot delivers it to the admin chat at its next start.
    rotated = load_settings(tmp_path / "config.toml", rotated_env)
    chat = await admin_chat_after_start(rotated)
    assert any(KEY_CHANGED in text and "AUDIT_KEY_ROTATED" in text for text in chat), chat

    # After the rotation the old key may go: the old rows' key is kept sealed in the database.
    without_old = {**env, "ENCRYPTION_MASTER_KEY": new_key}
    use_env(monkeypatch, without_old)
    code, out = await cli(["audit", "verify"], capsys)
    assert code == 0, out


@pytest.mark.sqlite_only(reason="builds a SQLite file at an old schema version by hand")
async def test_rows_from_before_keying_are_sealed_not_rewritten(
    tmp_path: Path, env: dict[str, str], monkeypatch, capsys
) -> None:
    """A database from before this change: its SHA-256 rows stay as they are; the first
    start-up (here ``verzek migrate``) with the key chains AUDIT_CHAIN_KEYED over them."""
    path = Path(env["VERZEK_DB"])
    every = migrator.available_migrations()
    keyed = next(i for i, m in enumerate(every) if m.name.endswith("anchor_keyed_audit"))
    monkeypatch.setattr(migrator, "available_migrations", lambda: every[:keyed])
    old = Database(path)
    await old.open()
    await old.close()
    monkeypatch.undo()
    links = await write_unkeyed_chain(path, 4)

    use_env(monkeypatch, env)
    code, out = await cli(["migrate"], capsys)
    assert code == 0 and "audit chain: AUDIT_CHAIN_KEYED chained as row 5" in out, out
    code, out = await cli(["audit", "verify"], capsys)
    assert code == 0, out
    assert "the first 4 rows kept their SHA-256 links from before keying, sealed by row 5" in out
    async with aiosqlite.connect(path) as conn:
        async with conn.execute("SELECT hash, key_id FROM audit_events ORDER BY id") as cur:
            stored = list(await cur.fetchall())
    assert [link for link, _ in stored[:4]] == links  # untouched
    assert [key for _, key in stored[:4]] == [None] * 4 and stored[4][1] is not None

    # Rewriting an old row now, even recomputing every SHA-256 link, breaks the keyed seal.
    for also_the_seal in (False, True):
        await rewrite_unkeyed_row(path, 2, also_the_seal=also_the_seal)
        code, out = await cli(["audit", "verify"], capsys)
        assert code == 1 and "BROKEN at row 5" in out, out
        why = "is not the HMAC of its contents" if also_the_seal else "prev_hash does not match"
        assert why in out, out


async def rewrite_unkeyed_row(path: Path, row_id: int, *, also_the_seal: bool) -> None:
    """Edit an unkeyed row and recompute the SHA-256 links after it (and, if asked, point the
    keyed seal's prev_hash at the new last link)."""
    async with aiosqlite.connect(path) as conn:
        await conn.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        await conn.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        async with conn.execute(f"SELECT {COLUMNS} FROM audit_events ORDER BY id") as cur:
            rows = [read_row(raw) for raw in await cur.fetchall()]
        prev = rows[row_id - 2].hash
        for row in rows[row_id - 1 :]:
            if row.key_id is not None:
                if also_the_seal:
                    await conn.execute(
                        "UPDATE audit_events SET prev_hash = ? WHERE id = ?", (prev, row.id)
                    )
                break
            details = {"note": "rewritten"} if row.id == row_id else row.details
            forged = replace(row, details=details, prev_hash=prev, hash="")
            prev = legacy_hash(forged)
            await conn.execute(
                "UPDATE audit_events SET details = ?, prev_hash = ?, hash = ? WHERE id = ?",
                (json.dumps(details, separators=(",", ":")), forged.prev_hash, prev, row.id),
            )
        await conn.commit()


async def write_unkeyed_chain(path: Path, count: int) -> list[str]:
    """Rows chained as the code before keying chained them (plain SHA-256)."""
    links = []
    async with aiosqlite.connect(path) as conn:
        prev = "0" * 64
        for n in range(1, count + 1):
            body = {
                "id": n,
                "ts": f"2026-01-0{n}T00:00:00.000000Z",
                "event_type": "LOGOUT",
                "severity": "info",
                "account_id": None,
                "telegram_user_id": 100 + n,
                "details": {"note": "before keying"},
                "prev_hash": prev,
            }
            text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            link = hashlib.sha256(text.encode()).hexdigest()
            await conn.execute(
                "INSERT INTO audit_events (id, ts, event_type, severity, account_id,"
                " telegram_user_id, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (n, body["ts"], "LOGOUT", "info", None, 100 + n, DETAILS, prev, link),
            )
            links.append(link)
            prev = link
        await conn.execute(
            "INSERT INTO audit_head (singleton, last_id, last_hash) VALUES (1, ?, ?)",
            (count, prev),
        )
        await conn.commit()
    return links


async def test_a_command_line_backup_is_anchored_and_the_printed_anchor_is_the_pinned_one(
    settings: Settings, env: dict[str, str], monkeypatch, capsys
) -> None:
    """``verzek backup create`` with the bot stopped records an anchor it cannot post; the bot
    posts and pins it when it starts, and ``audit verify`` then prints that very anchor."""
    await some_events(settings, 3)
    use_env(monkeypatch, env)
    code, out = await cli(["backup", "create"], capsys)
    assert code == 0, out
    code, out = await cli(["audit", "verify"], capsys)
    assert code == 0 and "last anchor: #1, row 4, link " in out and "not posted yet" in out, out

    services = await build_services(settings)
    bot = BotHarness(settings, services)
    await bot.start()
    try:
        assert bot.app.job_queue is not None
        [job] = bot.app.job_queue.get_jobs_by_name(JOB_NAME)
        await job.run(bot.app)  # the start-up check, then the unposted anchor goes out
        [posted] = [m for m in bot.api.sent_to(ADMIN_CHAT_ID) if "Audit anchor" in m.plain]
        assert bot.api.pins.newest(ADMIN_CHAT_ID, bot.api.messages) is posted
        assert "Audit anchor #1 (after a backup)" in posted.plain and "row 4" in posted.plain
    finally:
        await bot.stop()
        await services.aclose()
    code, out = await cli(["audit", "verify"], capsys)
    assert code == 0, out
    [link] = [
        line[len("link ") :] for line in posted.plain.splitlines() if line.startswith("link ")
    ]
    assert f"last anchor: #1, row 4, link {link[:16]}…, posted " in out
    assert f"as message {posted.message_id}" in out


async def test_an_anchor_is_posted_once_and_never_changed(services, clock) -> None:
    await services.audit.record(AuditEvent(EventType.LOGOUT, telegram_user_id=1))
    anchor = await services.anchors.record("hourly")
    assert anchor is not None and anchor.message_id is None
    assert await services.anchors.record("hourly", only_if_moved=True) is None  # same head
    await services.anchors.mark_posted(anchor, ADMIN_CHAT_ID, 17, clock.now())
    await services.anchors.mark_posted(anchor, ADMIN_CHAT_ID, 99, clock.now())  # ignored
    last = await services.anchors.last()
    assert last is not None and last.message_id == 17 and last.link == anchor.link
    assert await services.anchors.unposted() == []
    for statement in (
        "UPDATE audit_anchors SET link = 'x'",
        "UPDATE audit_anchors SET message_id = 5",
        "DELETE FROM audit_anchors",
    ):
        with pytest.raises((aiosqlite.IntegrityError, IntegrityError, asyncpg.PostgresError)):
            await raw_db.execute(services.settings, statement)
