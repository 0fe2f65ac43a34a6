"""Backups against real SQLite files: consistency under writes, retention, restore, refusals."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from bot.bootstrap import archive_seal, chain_keys
from core.adapters import backup_archive as archive
from core.audit.log import AuditEvent, AuditLog, EventType
from core.authz import OPERATOR, Actor, AdminRights
from core.backups import archive_rules as rules
from core.backups.archive_rules import BackupError
from core.backups.service import PRE_RESTORE, BackupService
from core.clock import FakeClock, to_iso
from core.config import Settings, load_settings
from core.errors import StorageError
from core.services import Services
from storage.migrator import code_schema_version
from tests.support.backup_steps import open_archive, unpack_to

DAY = timedelta(days=1)


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(
        '[security]\ncaptcha = false\n[rate_limits]\nauth = "1000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\nretention_days = 30\n'
    )
    return load_settings(config, env)


# --- helpers ---------------------------------------------------------------------------------


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    with closing(sqlite3.connect(path)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {
            t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
        }


def names(service: BackupService) -> list[str]:
    return sorted(p.name for p in service.directory.glob("verzek-*.tar.gz"))


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]  # all regular files


def write_archive(path: Path, entries: list[tuple[str, bytes | None, bytes]]) -> None:
    """A .tar.gz with (name, data, tar type) entries; data None for links and folders."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
            info.size = len(data or b"")
            tar.addfile(info, io.BytesIO(data or b""))
    path.write_bytes(buffer.getvalue())


def manifest_for(db: bytes, base: dict, **changes: object) -> bytes:
    """A manifest that matches ``db`` (size, SHA-256, row counts), with ``changes`` on top."""
    body = json.loads(json.dumps(base))
    body["database"]["size"] = len(db)
    body["database"]["sha256"] = hashlib.sha256(db).hexdigest()
    body["row_counts"] = row_counts(db)
    for key, value in changes.items():
        body[key] = value
    return json.dumps(body).encode()


def row_counts(db: bytes) -> dict[str, int]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.db"
        path.write_bytes(db)
        try:
            return {t: len(rows) for t, rows in dump(path).items()}
        except sqlite3.DatabaseError:
            return {}


def edit_db(db: bytes, sql: str, *, foreign_keys: bool = False) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.db"
        path.write_bytes(db)
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            conn.executescript(sql)
        return path.read_bytes()


async def add_user(services: Services, email: str, telegram_user_id: int) -> int:
    user = await services.accounts.register(
        email=email,
        password_hash="$argon2id$not-a-real-hash",
        referral_code=None,
        telegram_user_id=telegram_user_id,
    )
    async with services.uow() as uow:
        await services.sessions.start(uow, user.id, telegram_user_id)
        await uow.commit()
    return user.id


async def audit_types(services: Services) -> list[str]:
    return [row.event_type async for row in services.audit.export()]


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


# --- restoring -------------------------------------------------------------------------------


@pytest.mark.sqlite_only(
    reason="compares the SQLite file's rows before and after (PostgreSQL: tests/test_pg_backups.py)"
)
async def test_restore_round_trip_brings_back_the_data_of_backup_time(
    services: Services, clock: FakeClock
) -> None:
    db_path = services.settings.database.path
    await add_user(services, "alice@example.com", 11)
    at_backup = dump(db_path)
    info = await services.backups.create(OPERATOR)
    clock.advance(minutes=5)
    await add_user(services, "bob@example.com", 12)
    await services.audit.record(AuditEvent(EventType.SETTINGS_CHANGED, details={"x": 1}))
    before_restore = dump(db_path)

    clock.advance(minutes=5)
    result = await services.backups.restore(Actor.telegram(9001), info.name)

    after = dump(db_path)
    for table, rows in at_backup.items():
        if table in {
            "audit_events",
            "audit_head",
            "sessions",
            "account_security",
            "restore_notices",
        }:
            continue
        assert after[table] == rows, table
    # Every account gets a new security stamp: no flow begun before the restore finishes.
    assert [row[2] for row in after["account_security"]] == ["restored"]
    # Whoever was logged in (and is not the restoring admin) will be told why.
    assert [row[0] for row in after["restore_notices"]] == sorted(set(result.logged_out) - {9001})
    events = at_backup["audit_events"]
    assert after["audit_events"][: len(events)] == events
    added = [row[2] for row in after["audit_events"][len(events) :]]
    assert added == ["BACKUP_CREATED", "BACKUP_RESTORED"]
    assert (await services.audit.verify()).ok
    # Sessions come back as they were, but ended: nobody is logged in after a restore.
    assert [r[:6] for r in after["sessions"]] == [r[:6] for r in at_backup["sessions"]]
    assert all(r[6] is not None and r[7] == "restored" for r in after["sessions"])
    assert result.sessions_ended == 1
    assert await services.sessions.current(11) is None
    # The safety backup holds exactly the data that was replaced.
    assert result.safety_backup is not None
    safety = services.backups.directory / result.safety_backup
    assert json.loads(members(safety)["manifest.json"])["reason"] == PRE_RESTORE
    copy = db_path.parent / "safety-check.db"
    unpack_to(services.settings, safety, copy)
    assert dump(copy) == before_restore
    # The bot carries on, on the restored file.
    await add_user(services, "carol@example.com", 13)
    assert {row[1] for row in dump(db_path)["users"]} == {
        "alice@example.com",
        "carol@example.com",
    }


async def test_every_restore_takes_a_safety_backup_first(
    services: Services, clock: FakeClock
) -> None:
    info = await services.backups.create(OPERATOR)
    for _ in range(2):
        clock.advance(seconds=10)
        await services.backups.restore(OPERATOR, info.name)
    reasons = [
        json.loads(members(services.backups.directory / n)["manifest.json"])["reason"]
        for n in names(services.backups)
    ]
    assert reasons == ["manual", PRE_RESTORE, PRE_RESTORE]


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


REG, SYM = tarfile.REGTYPE, tarfile.SYMTYPE
# name -> (build the archive from the good manifest and database, words the refusal contains)
CORRUPTIONS: dict[str, tuple[Callable[[dict, bytes, bytes], bytes | list], str]] = {
    "flipped byte": (lambda m, db, raw: _flip(raw), "damaged|checksum|authenticate"),
    "truncated": (lambda m, db, raw: raw[: len(raw) // 2], "damaged or truncated"),
    "not gzip": (lambda m, db, raw: b"just some text\n" * 50, "damaged"),
    "wrong checksum": (
        lambda m, db, raw: [
            (
                "manifest.json",
                json.dumps(m | {}).replace(m["database"]["sha256"], "0" * 64).encode(),
                REG,
            ),
            ("verzek.db", db, REG),
        ],
        "checksum mismatch",
    ),
    "missing manifest": (lambda m, db, raw: [("verzek.db", db, REG)], "manifest.json"),
    "foreign archive": (
        lambda m, db, raw: [("notes.txt", b"hello", REG), ("photo.jpg", b"\xff\xd8", REG)],
        "not a Verzek Guard backup",
    ),
    "foreign manifest": (
        lambda m, db, raw: [("manifest.json", b'{"format": "other"}', REG), ("verzek.db", db, REG)],
        "not a Verzek Guard backup",
    ),
    "traversal member": (
        lambda m, db, raw: [("../../evil.json", b"{}", REG)],
        "unsafe path",
    ),
    "absolute member": (lambda m, db, raw: [("/etc/cron.d/evil", b"x", REG)], "unsafe path"),
    "traversal database": (
        lambda m, db, raw: [("manifest.json", manifest_for(db, m), REG), ("../verzek.db", db, REG)],
        "unsafe path",
    ),
    "symlink database": (
        lambda m, db, raw: [("manifest.json", manifest_for(db, m), REG), ("verzek.db", None, SYM)],
        "not a regular file",
    ),
    "extra member": (
        lambda m, db, raw: [
            ("manifest.json", manifest_for(db, m), REG),
            ("verzek.db", db, REG),
            ("more.sh", b"rm -rf /", REG),
        ],
        "unexpected member",
    ),
    "row counts differ": (
        lambda m, db, raw: [
            ("manifest.json", manifest_for(db, m, row_counts={"users": 99}), REG),
            ("verzek.db", db, REG),
        ],
        "row counts differ",
    ),
    "newer schema": (
        lambda m, db, raw: (
            lambda newer: [
                ("manifest.json", manifest_for(newer, m, schema_version=999), REG),
                ("verzek.db", newer, REG),
            ]
        )(
            edit_db(
                db,
                "INSERT INTO schema_migrations VALUES (999, 'future', '2030-01-01T00:00:00Z');",
            )
        ),
        "newer than this code",
    ),
    "foreign key violation": (
        lambda m, db, raw: (
            lambda broken: [
                ("manifest.json", manifest_for(broken, m), REG),
                ("verzek.db", broken, REG),
            ]
        )(
            edit_db(
                db,
                "INSERT INTO sessions (account_id, telegram_user_id, created_at, last_seen_at,"
                " expires_at) VALUES (424242, 5, 'a', 'a', 'a');",
            )
        ),
        "foreign_key_check",
    ),
    "damaged database": (
        lambda m, db, raw: (
            lambda bad: [("manifest.json", manifest_for(bad, m), REG), ("verzek.db", bad, REG)]
        )(db[:4096] + b"\x13" * (len(db) - 4096)),
        "integrity_check|not a readable SQLite database",
    ),
    "not a verzek database": (
        lambda m, db, raw: (
            lambda other: [
                ("manifest.json", manifest_for(other, m), REG),
                ("verzek.db", other, REG),
            ]
        )(edit_db(db, "DROP TABLE schema_migrations;")),
        "not a Verzek Guard database",
    ),
}


@pytest.mark.sqlite_only(
    reason="each variant edits a SQLite file (PostgreSQL: test_pg_backup_tampering.py)"
)
@pytest.mark.parametrize("kind", list(CORRUPTIONS))
async def test_a_bad_archive_is_refused_and_the_database_is_untouched(
    services: Services, clock: FakeClock, kind: str
) -> None:
    import re

    await add_user(services, "alice@example.com", 11)
    good = await services.backups.create(OPERATOR)
    good_path = services.backups.directory / good.name
    manifest = json.loads(members(good_path)["manifest.json"])
    # The archives built from parts are of the format made before sealing (anyone can make
    # one), checked with --allow-unsealed: every check behind the seal still holds.
    manifest = {k: v for k, v in manifest.items() if k not in {"mac", "sealing"}}
    manifest["format_version"] = 1
    manifest["database"]["file"] = "verzek.db"
    build, expected = CORRUPTIONS[kind]
    built = build(manifest, open_archive(services.settings, good_path)[1], good_path.read_bytes())
    # Of the good archive's second, so a sealed one's manifest fits its name.
    name = good.name.replace(".tar.gz", "-1.tar.gz")
    target = services.backups.directory / name
    if isinstance(built, bytes):
        target.write_bytes(built)
    else:
        write_archive(target, built)
    clock.advance(minutes=1)
    await add_user(services, "bob@example.com", 12)
    db_path = services.settings.database.path
    before, listed_before, events_before = (
        dump(db_path),
        names(services.backups),
        await audit_types(services),
    )

    with pytest.raises(BackupError) as refused:
        await services.backups.restore(OPERATOR, name, allow_unsealed=True)

    assert re.search(expected, refused.value.problem), refused.value.problem
    assert dump(db_path) == before
    assert names(services.backups) == listed_before, "no safety backup: nothing was started"
    assert await audit_types(services) == events_before
    assert not [p for p in db_path.parent.iterdir() if p.name.endswith(".tmp")]
    verdict = await services.backups.verify(OPERATOR, name, allow_unsealed=True)
    assert not verdict.verified and re.search(expected, verdict.problem or "")
    assert await services.sessions.current(12) is not None, "the bot carries on"


@pytest.mark.parametrize(
    "name",
    ["../verzek.db", "/etc/passwd", "verzek-20260101T000000Z.tar.gz/../../x", "..", "", "x.tar.gz"],
)
async def test_names_that_are_paths_are_refused(services: Services, name: str) -> None:
    with pytest.raises(BackupError, match="is not a backup name"):
        await services.backups.restore(OPERATOR, name)
    with pytest.raises(BackupError, match="is not a backup name"):
        await services.backups.verify(OPERATOR, name)


async def test_a_symlinked_archive_is_refused(services: Services, tmp_path: Path) -> None:
    outside = tmp_path / "outside.tar.gz"
    info = await services.backups.create(OPERATOR)
    outside.write_bytes((services.backups.directory / info.name).read_bytes())
    link = services.backups.directory / "verzek-20250101T000000Z.tar.gz"
    os.symlink(outside, link)
    with pytest.raises(BackupError, match="not a regular file"):
        await services.backups.restore(OPERATOR, link.name)
    assert [i.name for i in await services.backups.list_backups(OPERATOR)] == [info.name]


@pytest.mark.sqlite_only(
    reason="SQLite's file lock; on PostgreSQL the fleet's writer lock holds the others off instead"
)
async def test_restore_is_refused_while_another_connection_holds_the_database(
    services: Services, clock: FakeClock
) -> None:
    info = await services.backups.create(OPERATOR)
    await add_user(services, "bob@example.com", 12)
    db_path = services.settings.database.path
    before = dump(db_path)
    clock.advance(seconds=10)
    with closing(sqlite3.connect(db_path)) as other:
        other.execute("SELECT COUNT(*) FROM users").fetchone()  # e.g. a second bot process
        with pytest.raises(BackupError, match="in use by another process"):
            await services.backups.restore(OPERATOR, info.name)
    after = dump(db_path)
    audit = {"audit_events", "audit_head"}
    assert {k: v for k, v in after.items() if k not in audit} == {
        k: v for k, v in before.items() if k not in audit
    }
    # The safety backup was taken before the refusal: it exists, so it is audited.
    new_events = after["audit_events"][len(before["audit_events"]) :]
    assert [row[2] for row in new_events] == ["BACKUP_CREATED"]
    assert '"pre-restore"' in new_events[0][6]
    assert await services.sessions.current(12) is not None, "reopened and working"


class UnreadableDatabase:
    """The real port, except that the live database cannot be read (a damaged file)."""

    def __init__(self, real: object) -> None:
        self._real = real

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    async def snapshot(self, dest: Path) -> None:
        raise StorageError("file is not a database")


async def test_an_unreadable_database_is_kept_as_is_by_the_safety_backup(
    services: Services, clock: FakeClock
) -> None:
    info = await services.backups.create(OPERATOR)
    damaged = BackupService(
        services.settings.backups,
        # A stand-in for the database file that fails to read: only what create() calls.
        UnreadableDatabase(services.backups._files),  # type: ignore[arg-type]
        services.audit,
        clock,
        rights=AdminRights(services.settings.telegram.admins),
        uow=services.uow,
        seal=lambda: archive_seal(services.settings),
        verify_chain=lambda units: AuditLog(
            units, clock, keys=chain_keys(services.settings)
        ).verify(),
    )
    with pytest.raises(BackupError, match="cannot snapshot the database"):
        await damaged.create(OPERATOR)
    clock.advance(seconds=10)
    result = await damaged.restore(OPERATOR, info.name)
    assert result.safety_backup is not None
    safety = await damaged.verify(OPERATOR, result.safety_backup)
    assert not safety.verified and safety.manifest is not None
    assert safety.manifest.reason == PRE_RESTORE


async def test_manifest_round_trip_and_validation() -> None:
    manifest = rules.Manifest(
        created_at=FakeClock().now(),
        reason="manual",
        schema_version=3,
        app_version="1.0",
        db_size=10,
        db_sha256="a" * 64,
        row_counts={"users": 2},
    )
    key = b"k" * 32
    read = rules.Manifest.from_bytes(manifest.to_bytes(key))
    assert read == manifest and read.made_by((b"other" * 8, key)) == 1
    assert read.made_by((b"other" * 8,)) is None
    with pytest.raises(ValueError, match="MAC key"):
        manifest.to_bytes()
    body = json.loads(manifest.to_bytes(key))
    # Any edit breaks the MAC; a manifest without one is not a sealed manifest at all.
    edited = rules.Manifest.from_bytes(json.dumps({**body, "reason": "nightly"}).encode())
    assert edited.made_by((key,)) is None
    for broken in (
        {**body, "format_version": 3},
        {k: v for k, v in body.items() if k != "mac"},
        {**body, "sealing": {"cipher": "none"}},
        {**body, "schema_version": -1},
        {**body, "row_counts": {"users": True}},
        {**body, "database": {**body["database"], "sha256": "xyz"}},
        {**body, "created_at": "yesterday"},
    ):
        with pytest.raises(BackupError):
            rules.Manifest.from_bytes(json.dumps(broken).encode())
    assert rules.human_size(999) == "999 B" and rules.human_size(1_234_567) == "1.2 MB"
    assert rules.human_size(3_500_000_000) == "3.5 GB"


@pytest.mark.sqlite_only(
    reason="builds an older SQLite file; a SQLite archive is refused by a PostgreSQL bot"
)
async def test_an_archive_of_an_older_schema_verifies_against_that_schema(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    import aiosqlite

    from storage.migrator import migrate
    from tests.support.backup_steps import seal_database

    older = code_schema_version() - 1
    path = tmp_path / "older.db"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("PRAGMA foreign_keys = ON")
        await migrate(conn, up_to=older)
        await conn.execute("PRAGMA journal_mode = DELETE")
    name = seal_database(services.settings, path, clock.now())
    info = await services.backups.verify(OPERATOR, name)
    assert info.verified, info.problem
    assert info.manifest is not None and info.manifest.schema_version == older
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("ANALYZE")  # statistics only steer the planner: still the same schema
    clock.advance(seconds=1)
    assert (
        await services.backups.verify(OPERATOR, seal_database(services.settings, path, clock.now()))
    ).verified
