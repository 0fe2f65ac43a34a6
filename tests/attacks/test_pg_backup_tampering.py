"""Attacks on PostgreSQL backups (SPEC §8a, §13): the sealed-archive contract holds on pg_dump.

The attacker's notebook: "I can write the backup folder. Without the key I flip bytes in a
sealed dump or swap one archive's manifest onto another's dump. With the key (an insider) I
take a dump, edit an audit row, or plant a function and an index that runs it — it would run
as the bot's role the moment anyone restores the dump — reseal it all and wait for an admin to
restore it. Or I hand the PostgreSQL bot a SQLite archive, hoping it gets half restored."

Each variant is refused, with its reason, before anything planted runs, and the live database
is exactly as it was: same rows, no scratch database left, no temp file in the folder.
"""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from core.audit.log import AuditEvent, EventType
from core.authz import OPERATOR
from core.backups.archive_rules import BackupError, OtherEngineArchive
from core.clock import FakeClock
from core.config import Settings
from core.errors import StorageError
from storage.database import Database
from storage.postgres.database import PostgresDatabase
from storage.postgres.dump_files import PostgresDumpFiles
from storage.postgres.migrator import code_schema_version
from tests.support.backup_steps import seal_database, unpack_to
from tests.support.pg_backup_steps import (
    PgBackups,
    pg_backups,
    raw,
    restore_dump,
    scratch_databases,
    seal_dump,
)
from tests.support.postgres import drop_database, fresh_database

pytestmark = pytest.mark.postgres_only


@pytest.fixture
async def pg(settings: Settings, clock: FakeClock) -> AsyncIterator[PgBackups]:
    assert settings.database.url is not None, "postgres_only: the bot's database is PostgreSQL"
    made = await pg_backups(settings, settings.database.url.get(), clock)
    await made.audit.record(AuditEvent(EventType.LOGIN_FAILED, details={"who": "someone"}))
    try:
        yield made
    finally:
        await made.close()


async def state(pg: PgBackups) -> tuple[object, ...]:
    """Everything a refused restore must leave as it was."""
    audit = [tuple(r) for r in await raw(pg.url, "SELECT * FROM audit_events ORDER BY id")]
    users = [tuple(r) for r in await raw(pg.url, "SELECT * FROM users ORDER BY id")]
    functions = await raw(
        pg.url,
        "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1",
    )
    files = sorted(p.name for p in pg.files.path.parent.iterdir())
    return audit, users, [r[0] for r in functions], files, await scratch_databases(pg.url)


async def refused(pg: PgBackups, name: str, *words: str) -> None:
    """``name`` fails verify and restore with ``words`` in the reason; nothing changed."""
    before = await state(pg)
    info = await pg.service.verify(OPERATOR, name)
    assert not info.verified
    assert all(word in (info.problem or "") for word in words), info.problem
    with pytest.raises(BackupError) as caught:
        await pg.service.restore(OPERATOR, name)
    assert all(word in caught.value.problem for word in words), caught.value.problem
    assert await state(pg) == before


async def dump_of(pg: PgBackups, url: str, into: Path) -> Path:
    """pg_dump of the database at ``url`` (its own dump files, as the bot's code would)."""
    await PostgresDumpFiles(PostgresDatabase(url), into.parent).snapshot(into)
    return into


async def test_a_flipped_byte_in_the_sealed_dump(pg: PgBackups) -> None:
    name = (await pg.service.create(OPERATOR)).name
    path = pg.files.path.parent / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    await refused(pg, name)


async def test_one_archives_manifest_on_another_archives_dump(
    pg: PgBackups, clock: FakeClock
) -> None:
    first = (await pg.service.create(OPERATOR)).name
    clock.advance(minutes=5)
    await pg.audit.record(AuditEvent(EventType.LOGIN_FAILED, details={"who": "later"}))
    second = (await pg.service.create(OPERATOR)).name
    folder = pg.files.path.parent
    with tarfile.open(folder / first) as a, tarfile.open(folder / second) as b:
        manifest = a.extractfile("manifest.json")
        member = b.getmember("verzek.pgdump.gz.age")
        dump = b.extractfile(member)
        assert manifest is not None and dump is not None
        manifest_bytes, dump_bytes = manifest.read(), dump.read()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for member_name, body in (("manifest.json", manifest_bytes), (member.name, dump_bytes)):
            info = tarfile.TarInfo(member_name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    (folder / first).write_bytes(out.getvalue())
    await refused(pg, first)


async def _reseal_edited(
    pg: PgBackups, settings: Settings, clock: FakeClock, edit: str
) -> tuple[str, str]:
    """The newest backup restored into a database of the insider's, ``edit`` run there, dumped
    and resealed with the key under a later name; returns (archive, that database's url)."""
    name = (await pg.service.create(OPERATOR)).name
    own = fresh_database(migrated=False)
    try:
        with tempfile.TemporaryDirectory(prefix="vz-insider-") as where:
            folder = Path(where)
            dump = folder / "genuine.dump"
            manifest = unpack_to(settings, pg.files.path.parent / name, dump)
            await asyncio.to_thread(restore_dump, own.url, dump)
            await raw(own.url, edit)
            edited = await dump_of(pg, own.url, folder / "edited.dump")
            clock.advance(minutes=1)
            resealed = seal_dump(
                settings,
                edited,
                clock.now(),
                schema_version=manifest.schema_version,
                row_counts=dict(manifest.row_counts),
            )
    finally:
        drop_database(own.name)
    return resealed, own.url


async def test_an_insider_edits_an_audit_row_and_reseals(
    pg: PgBackups, settings: Settings, clock: FakeClock
) -> None:
    edit = (
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update;"
        ' UPDATE audit_events SET details = \'{"who": "nobody"}\';'
        " ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update"
    )
    name, _ = await _reseal_edited(pg, settings, clock, edit)
    await refused(pg, name, "audit chain does not verify")


async def test_a_disabled_append_only_trigger_is_refused(
    pg: PgBackups, settings: Settings, clock: FakeClock
) -> None:
    edit = "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_delete"
    name, _ = await _reseal_edited(pg, settings, clock, edit)
    await refused(pg, name, "its schema is not what the migrations create")


async def test_a_planted_function_is_refused_before_it_runs(
    pg: PgBackups, settings: Settings, clock: FakeClock
) -> None:
    # The function would run while a restore builds the index (as the restoring role, which
    # may be a superuser); it leaves a mark only when it runs in one of the bot's scratch
    # databases, i.e. if our checks restored the dump before looking at it.
    marker = Path(tempfile.gettempdir()) / f"vz-planted-{uuid.uuid4().hex}"
    edit = (
        "CREATE FUNCTION public.norm(t text) RETURNS text IMMUTABLE LANGUAGE plpgsql AS $$"
        " BEGIN IF current_database() LIKE 'verzek_scratch%' THEN"
        f" EXECUTE 'COPY (SELECT 1) TO ''{marker}'''; END IF; RETURN t; END $$;"
        " CREATE INDEX users_norm ON users (public.norm(email))"
    )
    name, _ = await _reseal_edited(pg, settings, clock, edit)
    try:
        await refused(pg, name, "its schema is not what the migrations create", "norm")
        assert not marker.exists(), "the planted function ran"
    finally:
        if marker.exists():
            os.unlink(marker)


async def test_a_sqlite_archive_offered_to_the_postgresql_bot(
    pg: PgBackups, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    sqlite = Database(tmp_path / "other.db")
    await sqlite.open()
    await sqlite.close()
    name = seal_database(settings, tmp_path / "other.db", clock.now())
    before = await state(pg)
    with pytest.raises(OtherEngineArchive) as caught:
        await pg.service.restore(OPERATOR, name)
    assert "holds a SQLite database but this bot runs on PostgreSQL" in caught.value.problem
    info = await pg.service.verify(OPERATOR, name)
    assert not info.verified and "SQLite" in (info.problem or "")
    assert await state(pg) == before


async def test_a_postgresql_archive_offered_to_a_sqlite_bot(
    pg: PgBackups, settings: Settings, clock: FakeClock
) -> None:
    from bot.bootstrap import operations

    name = (await pg.service.create(OPERATOR)).name
    # Another bot of the same key on the SQLite file next to it.
    on_sqlite = replace(settings, database=replace(settings.database, url=None))
    sqlite_ops = operations(on_sqlite, clock)
    await sqlite_ops.database.open()
    try:
        with pytest.raises(OtherEngineArchive) as caught:
            await sqlite_ops.backups.restore(OPERATOR, name)
        assert "holds a PostgreSQL database but this bot runs on SQLite" in caught.value.problem
    finally:
        await sqlite_ops.database.close()
    assert code_schema_version() > 0


async def test_the_dsn_password_is_on_no_command_line_and_in_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anyone on the machine can read a process's command line (ps): the password goes to the
    # client tools in PGPASSWORD only, and a tool that echoes its arguments is scrubbed.
    seen = tmp_path / "seen"
    fake = tmp_path / "bin" / "pg_dump"
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/sh\necho "$@" > {seen}\necho "PGPASSWORD=$PGPASSWORD" >> {seen}\n'
        'echo "pg_dump: error: cannot connect to $@ (password s3cr3t-pw)" >&2\nexit 1\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    url = "postgresql://verzek:s3cr3t-pw@db.example:5432/verzek"
    files = PostgresDumpFiles(PostgresDatabase(url), tmp_path)
    with pytest.raises(StorageError) as caught:
        await files.snapshot(tmp_path / "dump")
    assert "s3cr3t-pw" not in str(caught.value) and "pg_dump failed" in str(caught.value)
    args, env = seen.read_text().splitlines()
    assert "s3cr3t-pw" not in args and "db.example" in args
    assert env == "PGPASSWORD=s3cr3t-pw"
    assert not (tmp_path / "dump").exists()
    assert "s3cr3t-pw" not in repr(files.path)
