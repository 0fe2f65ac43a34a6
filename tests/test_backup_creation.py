"""Making backups of a real SQLite file: consistent while the bot writes, the archive's format,
manifest and permissions, no half-written archive after a crash, and retention that never deletes
the newest archive (or the newest that verifies).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import tarfile
import threading
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from core.adapters import backup_archive as archive
from core.audit.log import AuditEvent, EventType
from core.authz import OPERATOR
from core.backups import archive_rules as rules
from core.clock import FakeClock, to_iso
from core.config import Settings
from core.services import Services
from storage.migrator import code_schema_version
from tests.support.backup_inspection import (
    add_user,
    audit_types,
    backup_settings,
    dump,
    members,
    names,
)
from tests.support.backup_steps import open_archive, unpack_to


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    return backup_settings(env, tmp_path)


DAY = timedelta(days=1)


# --- creating --------------------------------------------------------------------------------


@pytest.mark.sqlite_only(
    reason="a second sqlite3 connection writes the file (PostgreSQL: tests/test_pg_backups.py)"
)
async def test_backup_is_consistent_while_the_bot_keeps_writing(
    services: Services, tmp_path: Path
) -> None:
    db_path = services.settings.database.path
    # Only the schema's own tables: an archive with a table the migrations do not make is
    # refused (SPEC §8a), so the "ledger" and the filler live in conversation_state rows.
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000) "
            "INSERT INTO conversation_state (kind, name, key, sealed, updated_at)"
            " SELECT 'user_data', 'filler', i, randomblob(4000), 't' FROM n"
        )
    stop = threading.Event()
    ledger_ready, audit_ready = threading.Event(), asyncio.Event()
    transfers = [0]

    def ledger_writer() -> None:
        # Another connection committing pairs that always sum to zero: any consistent point
        # in time has an even number of rows and a zero sum.
        with closing(sqlite3.connect(db_path, isolation_level=None, timeout=10)) as conn:
            conn.execute("PRAGMA synchronous = OFF")  # durability is not what is tested here
            while not stop.is_set():
                conn.execute("BEGIN IMMEDIATE")
                for amount in (5, -5):
                    conn.execute(
                        "INSERT INTO conversation_state (kind, name, key, sealed, updated_at)"
                        " VALUES ('user_data', 'ledger', lower(hex(randomblob(8))), ?, 't')",
                        (amount,),
                    )
                conn.execute("COMMIT")
                transfers[0] += 1
                if transfers[0] == 10:
                    ledger_ready.set()
                time.sleep(0.001)  # a busy bot, not a tight loop that starves other writers

    appended = [0]

    async def audit_writer() -> None:
        # The bot's own connection keeps appending to the audit chain, as users do: with
        # gaps, so the two writers take turns at SQLite's write lock instead of starving.
        while not stop.is_set():
            appended[0] += 1
            await services.audit.record(
                AuditEvent(EventType.SETTINGS_CHANGED, details={"n": appended[0]})
            )
            if appended[0] == 3:
                audit_ready.set()
            await asyncio.sleep(0.02)

    thread = threading.Thread(target=ledger_writer)
    thread.start()
    writer = asyncio.create_task(audit_writer())
    try:
        assert await asyncio.to_thread(ledger_ready.wait, 10)
        await asyncio.wait_for(audit_ready.wait(), 10)
        before, appended_before = transfers[0], appended[0]
        info = await services.backups.create(OPERATOR)
        during, appended_during = transfers[0] - before, appended[0] - appended_before
    finally:
        stop.set()
        await writer
        thread.join()
    assert during > 0 and appended_during > 0, "writers must not be blocked by the backup"
    assert info.verified and info.manifest is not None

    copy = tmp_path / "copy.db"
    manifest = unpack_to(services.settings, services.backups.directory / info.name, copy)
    with closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        count, total = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(CAST(sealed AS INTEGER)), 0) FROM conversation_state"
            " WHERE name = 'ledger'"
        ).fetchone()
    assert count % 2 == 0 and total == 0 and 2 * before <= count
    assert manifest.row_counts == {t: len(rows) for t, rows in dump(copy).items()}
    with closing(sqlite3.connect(copy)) as conn:
        (events,) = conn.execute("SELECT COUNT(*) FROM audit_events").fetchone()
        (head,) = conn.execute("SELECT last_id FROM audit_head").fetchone()
    assert events == head, "the audit chain's head and rows come from one instant"


@pytest.mark.sqlite_only(
    reason="opens the SQLite file inside the archive (PostgreSQL: tests/test_pg_backups.py)"
)
async def test_archive_format_manifest_and_permissions(services: Services, tmp_path: Path) -> None:
    await add_user(services, "alice@example.com", 11)
    info = await services.backups.create(OPERATOR)
    path = services.backups.directory / info.name
    assert rules.NAME_RE.fullmatch(info.name)
    assert info.name == f"verzek-{services.clock.now():%Y%m%dT%H%M%SZ}.tar.gz"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(services.backups.directory.stat().st_mode & 0o777) == "0o700"
    with tarfile.open(path, "r:gz") as tar:
        assert [m.name for m in tar.getmembers()] == ["manifest.json", "verzek.db.gz.age"]
    files = members(path)
    _, db = open_archive(services.settings, path)
    body = json.loads(files["manifest.json"])
    assert set(body) == {
        "format",
        "format_version",
        "created_at",
        "reason",
        "app_version",
        "schema_version",
        "database",
        "row_counts",
        "sealing",
        "mac",
    }
    assert body["format_version"] == 2
    assert body["sealing"] == {"cipher": "age-x25519", "compression": "gzip"}
    # The standard age format: anyone with the key (and only with it) opens it.
    assert files["verzek.db.gz.age"].startswith(b"age-encryption.org/v1\n")
    assert b"alice@example.com" not in path.read_bytes()
    assert body["created_at"] == to_iso(services.clock.now())
    assert body["schema_version"] == code_schema_version() and body["reason"] == "manual"
    assert body["database"] == {
        "file": "verzek.db.gz.age",
        "size": len(db),
        "sha256": hashlib.sha256(db).hexdigest(),
    }
    assert body["row_counts"]["users"] == 1 and body["row_counts"]["sessions"] == 1
    assert isinstance(body["app_version"], str) and body["app_version"]
    # Nothing secret: no key, no hash, no email in the manifest.
    text = files["manifest.json"].decode()
    master = services.settings.encryption.master_key
    assert master is not None and master.get() not in text
    assert "argon2" not in text and "alice" not in text
    # The snapshot is a self-contained file (not in WAL mode).
    assert db[18:20] == b"\x01\x01"
    kinds = await audit_types(services)
    assert kinds[-1] == EventType.BACKUP_CREATED


async def test_a_crash_while_writing_leaves_no_archive_that_lists(
    services: Services, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await services.backups.create(OPERATOR)

    def crash(*args: object) -> str:
        raise KeyboardInterrupt  # the process dies just before the rename

    monkeypatch.setattr(archive, "_publish", crash)
    clock.advance(seconds=5)
    with pytest.raises(KeyboardInterrupt):
        await services.backups.create(OPERATOR)
    monkeypatch.undo()
    folder = services.backups.directory
    (folder / ".verzek-20260101T000000Z-0badf00d.archive.tmp").write_bytes(b"half an archive")
    (folder / "notes.txt").write_text("not a backup")
    listed = await services.backups.list_backups(OPERATOR)
    assert [i.name for i in listed] == [first.name] and listed[0].verified


async def test_same_second_backups_get_distinct_names(services: Services) -> None:
    one = await services.backups.create(OPERATOR)
    two = await services.backups.create(OPERATOR)
    assert two.name == one.name.replace(".tar.gz", "-1.tar.gz")
    assert [i.name for i in await services.backups.list_backups(OPERATOR)] == [two.name, one.name]


# --- retention -------------------------------------------------------------------------------


async def test_retention_deletes_old_archives_but_never_the_newest(
    services: Services, clock: FakeClock
) -> None:
    made = {}
    for day in (0, 5, 20, 45):
        clock.set(FakeClock().now() + day * DAY)
        made[day] = (await services.backups.create(OPERATOR)).name
    assert await services.backups.prune(OPERATOR) == [made[5], made[0]]
    assert names(services.backups) == sorted([made[20], made[45]])

    clock.set(FakeClock().now() + 400 * DAY)  # nothing new for a year: the newest stays
    assert await services.backups.prune(OPERATOR) == [made[20]]
    assert names(services.backups) == [made[45]]
    assert await services.backups.prune(OPERATOR) == []


async def test_retention_keeps_the_newest_archive_that_verifies(
    services: Services, clock: FakeClock
) -> None:
    good = (await services.backups.create(OPERATOR)).name
    clock.advance(days=10)
    bad = (await services.backups.create(OPERATOR)).name
    path = services.backups.directory / bad
    path.write_bytes(path.read_bytes()[:200])  # the newest is damaged
    old_temp = services.backups.directory / ".verzek-20250101T000000Z-deadbeef.archive.tmp"
    old_temp.write_bytes(b"left by a crash")
    clock.advance(days=100)
    fresh_temp = archive.temp_path(services.backups.directory, clock.now(), "archive")
    fresh_temp.write_bytes(b"being written right now")
    assert await services.backups.prune(OPERATOR) == []
    assert names(services.backups) == sorted([good, bad])
    assert not old_temp.exists() and fresh_temp.exists()
