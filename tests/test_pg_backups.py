"""Backups on PostgreSQL (SPEC §8, §13): pg_dump snapshots in the same sealed archives, every
check of a candidate in scratch databases, and the restore swap with the fleet held."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from bot.bootstrap import archive_seal, chain_keys
from core.audit.log import AuditEvent, AuditLog, EventType
from core.authz import OPERATOR, AdminRights
from core.backups.service import BackupService
from core.clock import FakeClock
from core.config import Settings
from storage.postgres.database import PostgresDatabase
from storage.postgres.dump_files import PostgresDumpFiles
from tests.support.postgres import PostgresServer


@dataclass
class PgBackups:
    database: PostgresDatabase
    files: PostgresDumpFiles
    audit: AuditLog
    service: BackupService
    url: str
    clock: FakeClock


async def pg_backups(settings: Settings, url: str, clock: FakeClock) -> PgBackups:
    database = PostgresDatabase(url, max_connections=3)
    await database.open()
    files = PostgresDumpFiles(database, settings.backups.dir)
    audit = AuditLog(database.unit_of_work, clock, keys=chain_keys(settings))
    service = BackupService(
        settings.backups,
        files,
        audit,
        clock,
        rights=AdminRights(settings.telegram.admins),
        uow=database.unit_of_work,
        seal=lambda: archive_seal(settings),
        verify_chain=lambda units: AuditLog(units, clock, keys=chain_keys(settings)).verify(),
    )
    return PgBackups(database, files, audit, service, url, clock)


@pytest.fixture
async def pg(settings: Settings, postgres_url: str, clock: FakeClock) -> AsyncIterator[PgBackups]:
    made = await pg_backups(settings, postgres_url, clock)
    try:
        yield made
    finally:
        await made.database.close()


async def raw(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


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
    # The append-only trigger came back with the schema.
    with pytest.raises(asyncpg.PostgresError):
        await raw(pg.url, "DELETE FROM audit_events")
    # No scratch database is left behind.
    left = await raw(pg.url, "SELECT datname FROM pg_database WHERE datname LIKE 'verzek_scratch%'")
    assert left == []


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
        await other.database.close()


def _unused(path: Path) -> None: ...
