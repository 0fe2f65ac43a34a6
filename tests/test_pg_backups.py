"""Backups on PostgreSQL (SPEC §8, §13): pg_dump snapshots in the same sealed archives, every
check of a candidate in scratch databases, and the restore swap with the fleet held."""

from __future__ import annotations

import asyncio
import re
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot import texts
from bot.cli import main
from core.audit.log import AuditEvent, EventType
from core.authz import OPERATOR
from core.clock import FakeClock
from core.config import Settings
from storage.postgres.database import PostgresDatabase
from storage.postgres.dump_files import PostgresDumpFiles
from storage.postgres.migrator import code_schema_version
from tests.support.backup_steps import member_names, unpack_to
from tests.support.constants import ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.pg_backup_steps import (
    PgBackups,
    pg_backups,
    raw,
    restore_dump,
    scratch_databases,
    seal_dump,
)
from tests.support.postgres import PostgresServer, drop_database, fresh_database
from tests.support.steps import enable_2fa, events, login, register

pytestmark = pytest.mark.postgres_only
NAME = re.compile(r"verzek-\d{8}T\d{6}Z(?:-\d+)?\.tar\.gz")


@pytest.fixture
async def pg(settings: Settings, clock: FakeClock) -> AsyncIterator[PgBackups]:
    assert settings.database.url is not None, "postgres_only: the bot's database is PostgreSQL"
    made = await pg_backups(settings, settings.database.url.get(), clock)
    try:
        yield made
    finally:
        await made.close()


async def note(pg: PgBackups, what: str) -> None:
    await pg.audit.record(AuditEvent(EventType.LOGIN_FAILED, details={"what": what}))


async def test_backup_verify_restore_round_trip(pg: PgBackups, clock: FakeClock) -> None:
    await note(pg, "before")
    info = await pg.service.create(OPERATOR)
    assert info.verified, info.problem
    assert info.manifest is not None and info.manifest.engine == "postgresql"
    assert info.manifest.row_counts["audit_events"] == 1
    assert (await pg.service.verify(OPERATOR, info.name)).verified

    clock.advance(minutes=1)
    await note(pg, "after")
    assert len(await raw(pg.url, "SELECT id FROM audit_events")) == 3  # + BACKUP_CREATED
    result = await pg.service.restore(OPERATOR, info.name)
    assert result.safety_backup is not None
    whats = [
        r["details"] for r in await raw(pg.url, "SELECT details FROM audit_events ORDER BY id")
    ]
    assert '"before"' in whats[0] and not any('"after"' in w for w in whats)
    kinds = [r[0] for r in await raw(pg.url, "SELECT event_type FROM audit_events ORDER BY id")]
    assert kinds[-2:] == [EventType.BACKUP_CREATED, EventType.BACKUP_RESTORED]
    assert (await pg.audit.verify()).ok
    # The restored database backs up as any other (its schema is the migrations' exactly).
    clock.advance(minutes=1)
    again = await pg.service.create(OPERATOR)
    assert again.verified, again.problem
    # The append-only trigger came back with the schema.
    with pytest.raises(asyncpg.PostgresError):
        await raw(pg.url, "DELETE FROM audit_events")
    # No scratch database is left behind.
    assert await scratch_databases(pg.url) == []


async def test_the_swap_waits_for_other_instances_writers(
    pg: PgBackups, settings: Settings, clock: FakeClock, postgres_server: PostgresServer
) -> None:
    other = await pg_backups(settings, pg.url, clock)
    try:
        await note(pg, "one")
        info = await pg.service.create(OPERATOR)
        await note(other, "from the other instance")
        await pg.service.restore(OPERATOR, info.name)
        # The other instance keeps working on the restored database, and its chain holds.
        await note(other, "after the restore")
        assert (await other.audit.verify()).ok
    finally:
        await other.close()


# --- through the bot: /backup, /backups, /restore on PostgreSQL -------------------------------


async def test_backup_and_restore_through_the_bot(bot: BotHarness, clock: FakeClock) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    totp, _ = await enable_2fa(bot, admin, clock)
    started, done = await bot.send(admin, "/backup")
    assert "Backing up" in started.plain
    assert "written and verified" in done.plain, done.plain
    found = NAME.search(done.plain)
    assert found is not None
    name = found[0]
    assert member_names(bot.settings.backups.dir / name)[1] == "verzek.pgdump.gz.age"

    clock.advance(minutes=1)
    await register(bot, bot.user(2002, "Bob"), email="bob@example.com")
    (listing,) = await bot.send(admin, "/backups")
    assert name in listing.plain and "verifies" in listing.plain
    (confirm,) = await bot.send(admin, f"/restore {name}")
    await bot.press(admin, confirm, "Restore")
    clock.advance(seconds=30)
    replies = await bot.send(admin, totp.at(clock.now()))
    assert f"Restored {name}" in replies[-1].plain, replies[-1].plain

    url = bot.settings.database.url
    assert url is not None
    emails = [r[0] for r in await raw(url.get(), "SELECT email FROM users")]
    assert emails == ["trader@example.com"]  # Bob registered after the backup
    (me,) = await bot.send(admin, "/me")
    assert me.plain == texts.LOGIN_FIRST  # every session ended
    kinds = [e.event_type for e in await events(bot)]
    assert kinds[-2:] == [EventType.BACKUP_CREATED, EventType.BACKUP_RESTORED]
    assert (await bot.services.audit.verify()).ok
    clock.advance(seconds=30)
    assert "Two-factor authentication is on" in await login(bot, admin)
    (welcome,) = await bot.send(admin, totp.at(clock.now()))
    assert "You're logged in" in welcome.plain


async def test_the_snapshot_is_consistent_while_another_instance_writes(
    pg: PgBackups, settings: Settings, clock: FakeClock
) -> None:
    # Another instance commits pairs that always sum to zero: any consistent point in time
    # has an even number of ledger rows and a zero sum, while the bot keeps auditing.
    stop, ready = asyncio.Event(), asyncio.Event()
    transfers = [0]

    async def ledger() -> None:
        conn = await asyncpg.connect(pg.url)
        try:
            while not stop.is_set():
                async with conn.transaction():
                    for amount in (5, -5):
                        await conn.execute(
                            "INSERT INTO conversation_state VALUES ('user_data', 'ledger', $1,"
                            " $2, 't')",
                            secrets.token_hex(8),
                            str(amount),
                        )
                transfers[0] += 1
                if transfers[0] == 10:
                    ready.set()
                await asyncio.sleep(0.001)
        finally:
            await conn.close()

    writer = asyncio.create_task(ledger())
    try:
        await asyncio.wait_for(ready.wait(), 30)
        info = await pg.service.create(OPERATOR)
        await note(pg, "while writing")
    finally:
        stop.set()
        await writer
    assert info.verified and info.manifest is not None, info.problem
    own = fresh_database(migrated=False)
    try:
        with tempfile.TemporaryDirectory() as where:
            dump = Path(where) / "dump"
            unpack_to(settings, settings.backups.dir / info.name, dump)
            await asyncio.to_thread(restore_dump, own.url, dump)
        rows = await raw(own.url, "SELECT sealed FROM conversation_state WHERE name = 'ledger'")
    finally:
        drop_database(own.name)
    assert len(rows) % 2 == 0 and len(rows) >= 20
    assert sum(int(row[0]) for row in rows) == 0
    assert info.manifest.row_counts["conversation_state"] == len(rows)


def test_the_command_line_backs_up_and_restores_postgresql(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    master_key: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[backups]\ndir = "{tmp_path / "backups"}"\n')
    monkeypatch.setenv("VERZEK_DATABASE_URL", postgres_url)
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", master_key)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--config", str(config)])
        out, err = capsys.readouterr()
        return code, out, err

    def emails() -> list[str]:
        rows = asyncio.run(raw(postgres_url, "SELECT email FROM users ORDER BY id"))
        return [str(row[0]) for row in rows]

    insert = (
        "INSERT INTO users (email, password_hash, referral_code, created_at)"
        " VALUES ($1, 'x', $2, '2026-01-01T00:00:00.000000Z')"
    )
    asyncio.run(raw(postgres_url, insert, "alice@example.com", "alice"))
    code, out, err = run("backup", "create")
    assert code == 0, err
    found = NAME.search(out)
    assert found is not None
    code, out, _ = run("backup", "list")
    assert code == 0 and found[0] in out and "verified: yes" in out and "users=1" in out
    asyncio.run(raw(postgres_url, insert, "bob@example.com", "bob"))
    code, out, err = run("backup", "restore", found[0], "--yes")
    assert code == 0, err
    assert emails() == ["alice@example.com"]
    assert "safety backup of the replaced data: verzek-" in out


async def test_an_archive_of_an_older_schema_verifies_and_restores_migrated(
    pg: PgBackups, settings: Settings, clock: FakeClock
) -> None:
    older = code_schema_version() - 1
    own = fresh_database(up_to=older)
    try:
        tables = await raw(own.url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        counts = {str(t[0]): len(await raw(own.url, f'SELECT 1 FROM "{t[0]}"')) for t in tables}
        with tempfile.TemporaryDirectory() as where:
            dump = Path(where) / "older.dump"
            await PostgresDumpFiles(PostgresDatabase(own.url), dump.parent).snapshot(dump)
            name = seal_dump(settings, dump, clock.now(), schema_version=older, row_counts=counts)
    finally:
        drop_database(own.name)
    info = await pg.service.verify(OPERATOR, name)
    assert info.verified, info.problem  # against the migrations' schema for its own version
    clock.advance(minutes=1)
    await pg.service.restore(OPERATOR, name)
    assert await pg.database.schema_version() == code_schema_version()  # migrated on reopen
    assert (await pg.audit.verify()).ok
