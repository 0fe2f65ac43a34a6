"""Restoring a real SQLite file: the round trip brings back the data of backup time, a safety
backup is taken first (kept as is even when the live database cannot be read), and no restore
happens while another connection holds the database.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from bot.bootstrap import archive_seal, chain_keys
from core.audit.log import AuditEvent, AuditLog, EventType
from core.authz import OPERATOR, Actor, AdminRights
from core.backups.archive_rules import BackupError
from core.backups.service import PRE_RESTORE, BackupService
from core.clock import FakeClock
from core.config import Settings
from core.errors import StorageError
from core.services import Services
from tests.support.backup_inspection import add_user, backup_settings, dump, members, names
from tests.support.backup_steps import unpack_to


@pytest.fixture
def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    return backup_settings(env, tmp_path)


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
