"""Backups on PostgreSQL for tests: a BackupService over PostgresDumpFiles (the composition
root's wiring, without the bot), raw SQL as an auditor or an intruder runs it, and sealing any
dump into an archive with the key (the insider who has it)."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from bot.bootstrap import archive_seal, chain_keys
from core.adapters import backup_archive as archive
from core.audit.log import AuditLog
from core.authz import AdminRights
from core.backups.archive_rules import POSTGRESQL, Manifest
from core.backups.service import BackupService
from core.clock import Clock
from core.config import Settings
from storage.postgres.database import PostgresDatabase
from storage.postgres.dump_files import PostgresDumpFiles
from storage.postgres.dump_tools import find_tool


@dataclass
class PgBackups:
    database: PostgresDatabase
    files: PostgresDumpFiles
    audit: AuditLog
    service: BackupService
    url: str

    async def close(self) -> None:
        await self.files.close()
        await self.database.close()


async def pg_backups(settings: Settings, url: str, clock: Clock) -> PgBackups:
    """An open PostgresDatabase at ``url`` with the backup service the bot would build."""
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
    return PgBackups(database, files, audit, service, url)


async def raw(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """Run ``sql`` on a connection of its own (an auditor's or an intruder's)."""
    conn = await asyncpg.connect(url)
    try:
        if args or sql.lstrip().upper().startswith("SELECT"):
            return list(await conn.fetch(sql, *args))
        await conn.execute(sql)
        return []
    finally:
        await conn.close()


async def scratch_databases(url: str) -> list[str]:
    """Scratch databases left on the server (there should be none after any operation)."""
    rows = await raw(url, "SELECT datname FROM pg_database WHERE datname LIKE 'verzek_scratch%'")
    return [str(row[0]) for row in rows]


def seal_dump(
    settings: Settings,
    dump: Path,
    created_at: datetime,
    *,
    schema_version: int,
    row_counts: dict[str, int],
) -> str:
    """A properly sealed PostgreSQL archive of the dump file ``dump`` (made with the key, as
    the code or an insider would); its name."""
    seal = archive_seal(settings)
    data = dump.read_bytes()
    manifest = Manifest(
        created_at=created_at,
        reason="manual",
        schema_version=schema_version,
        app_version="test",
        db_size=len(data),
        db_sha256=hashlib.sha256(data).hexdigest(),
        row_counts=row_counts,
        engine=POSTGRESQL,
    )
    settings.backups.dir.mkdir(parents=True, exist_ok=True)
    return archive.pack(
        settings.backups.dir, manifest, dump, seal=seal.age, mac_key=seal.mac_keys[0]
    )


def restore_dump(url: str, dump: Path) -> None:
    """pg_restore ``dump`` into the (empty) database at ``url``, as anyone with the client
    tools would (no password: the test server trusts local connections)."""
    subprocess.run(
        [find_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={url}", str(dump)],
        check=True,
        capture_output=True,
        timeout=120,
    )
