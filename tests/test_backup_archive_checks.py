"""What verify and restore check in an archive: damaged, edited, forged or path-like archives are
refused with the database untouched, the manifest round-trips and validates, and an archive of an
older schema verifies against that schema.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import tarfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from core.authz import OPERATOR
from core.backups import archive_rules as rules
from core.backups.archive_rules import BackupError
from core.clock import FakeClock
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
    row_counts,
)
from tests.support.backup_steps import open_archive


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    return backup_settings(env, tmp_path)


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


def edit_db(db: bytes, sql: str, *, foreign_keys: bool = False) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.db"
        path.write_bytes(db)
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            conn.executescript(sql)
        return path.read_bytes()


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
