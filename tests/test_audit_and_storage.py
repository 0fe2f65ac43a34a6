"""Audit chain and storage on real SQLite files."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import timedelta
from pathlib import Path

import aiosqlite
import pytest

from bot.cli import main
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.clock import FakeClock
from core.errors import StorageError
from storage.audit_repository import SqliteAuditRepository
from storage.database import Database
from storage.migrator import code_schema_version
from tests.support.chain_keys import TEST_MASTER_KEY, chain_keys


@pytest.fixture
async def database(tmp_path: Path):
    db = Database(tmp_path / "audit.db")
    await db.open()
    yield db
    await db.close()


def login_failed(n: int) -> AuditEvent:
    return AuditEvent(
        EventType.LOGIN_FAILED,
        Severity.WARNING,
        account_id=n % 3 or None,
        telegram_user_id=1000 + n,
        details={"attempt": n, "note": "ünïcode ✓"},
    )


async def fill(database: Database, count: int) -> AuditLog:
    log = AuditLog(database.unit_of_work, FakeClock(), keys=chain_keys())
    for n in range(count):
        await log.record(login_failed(n))
    return log


async def tamper(path: Path, *statements: str) -> None:
    """What an attacker with the file could do: drop the guards and edit rows."""
    async with aiosqlite.connect(path) as conn:
        await conn.execute("DROP TRIGGER audit_events_no_update")
        await conn.execute("DROP TRIGGER audit_events_no_delete")
        for statement in statements:
            await conn.execute(statement)
        await conn.commit()


async def test_new_database_is_migrated_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.db"
    db = Database(path)
    applied = await db.open()
    try:
        assert [m.version for m in applied] == list(range(1, code_schema_version() + 1))
        assert await db.schema_version() == code_schema_version()
        async with db.unit_of_work(read_only=True) as uow:
            assert isinstance(uow.audit, SqliteAuditRepository)
            conn = uow.audit._conn
            pragmas = {}
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "user_version"):
                async with conn.execute(f"PRAGMA {name}") as cur:
                    (pragmas[name],) = tuple(await cur.fetchone() or ())
            assert pragmas["journal_mode"] == "wal"
            assert pragmas["foreign_keys"] == 1
            assert pragmas["busy_timeout"] >= 5000
            assert pragmas["user_version"] == code_schema_version()
    finally:
        await db.close()
    again = Database(path)
    assert await again.open() == []  # an existing, current database: nothing to apply
    await again.close()


async def test_migrate_command_on_existing_database_keeps_data(tmp_path: Path, capsys, monkeypatch):
    path = tmp_path / "m.db"
    db = Database(path)
    await db.open()
    await fill(db, 3)
    await db.close()
    monkeypatch.setenv("VERZEK_DB", str(path))
    monkeypatch.chdir(tmp_path)
    assert await asyncio.to_thread(main, ["migrate"]) == 0
    assert f"schema version {code_schema_version()}" in capsys.readouterr().out
    async with aiosqlite.connect(path) as conn:
        async with conn.execute("SELECT COUNT(*) FROM audit_events") as cur:
            assert tuple(await cur.fetchone() or ()) == (3,)


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    db = Database(path)
    await db.open()
    await db.close()
    async with aiosqlite.connect(path) as conn:
        await conn.execute(
            "INSERT INTO schema_migrations VALUES (999, 'from_the_future', '2030-01-01')"
        )
        await conn.commit()
    with pytest.raises(StorageError, match="upgrade Verzek Guard"):
        await Database(path).open()


async def test_unit_of_work_rolls_back_unless_committed(database: Database) -> None:
    log = AuditLog(database.unit_of_work, FakeClock(), keys=chain_keys())
    async with database.unit_of_work() as uow:
        await log.append(uow, login_failed(1))
    with pytest.raises(RuntimeError):
        async with database.unit_of_work() as uow:
            await log.append(uow, login_failed(2))
            raise RuntimeError("service failed half-way")
    assert [row async for row in log.export()] == []
    assert (await log.verify()).ok


async def test_chain_verifies_and_rows_link(database: Database) -> None:
    log = await fill(database, 20)
    rows = [row async for row in log.export()]
    assert [r.id for r in rows] == list(range(1, 21))
    assert rows[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert rows[0].ts.utcoffset() == timedelta(0)
    report = await log.verify()
    assert report.ok and report.checked == 20


async def test_app_cannot_update_or_delete_audit_rows(database: Database) -> None:
    await fill(database, 2)
    async with database.unit_of_work() as uow:
        assert isinstance(uow.audit, SqliteAuditRepository)
        with pytest.raises(Exception, match="append-only"):
            await uow.audit._conn.execute("UPDATE audit_events SET severity = 'info'")
        with pytest.raises(Exception, match="append-only"):
            await uow.audit._conn.execute("DELETE FROM audit_events")


async def test_edited_row_is_detected(database: Database) -> None:
    log = await fill(database, 10)
    await tamper(
        database.path,
        """UPDATE audit_events SET details = '{"attempt":4,"note":"edited"}' WHERE id = 5""",
    )
    report = await log.verify()
    assert not report.ok and report.bad_row_id == 5 and report.checked == 4


async def test_deleted_row_is_detected(database: Database) -> None:
    log = await fill(database, 10)
    await tamper(database.path, "DELETE FROM audit_events WHERE id = 7")
    report = await log.verify()
    assert not report.ok and report.bad_row_id == 8


async def test_deleted_newest_rows_are_detected(database: Database) -> None:
    log = await fill(database, 10)
    await tamper(database.path, "DELETE FROM audit_events WHERE id >= 9")
    report = await log.verify()
    assert not report.ok and "newest rows are missing" in report.reason


async def test_rehashed_forgery_is_still_detected_by_the_next_link(database: Database) -> None:
    """Recomputing an edited row's own link does not help: the next row points elsewhere."""
    from core.audit.chain import keyed_link

    log = await fill(database, 5)
    rows = [row async for row in log.export()]
    forged = rows[2].__class__(**{**rows[2].__dict__, "details": {"attempt": 0}})
    forged_hash = keyed_link(chain_keys()().current, forged)
    await tamper(
        database.path,
        f"""UPDATE audit_events SET details = '{{"attempt":0}}', hash = '{forged_hash}'
            WHERE id = 3""",
    )
    report = await log.verify()
    assert not report.ok and report.bad_row_id == 4


async def test_concurrent_writers_never_fork_the_chain(database: Database) -> None:
    log = AuditLog(database.unit_of_work, FakeClock(), keys=chain_keys())
    await asyncio.gather(*(log.record(login_failed(n)) for n in range(200)))
    # A second connection (another process, such as the CLI) writing at the same time.
    other = Database(database.path)
    await other.open()
    other_log = AuditLog(other.unit_of_work, FakeClock(), keys=chain_keys())
    await asyncio.gather(
        *(log.record(login_failed(n)) for n in range(100)),
        *(other_log.record(login_failed(n)) for n in range(100)),
    )
    await other.close()
    report = await log.verify()
    assert report.ok and report.checked == 400


def test_details_refuse_secret_looking_fields() -> None:
    for key in ("password", "totp_secret", "api_key", "backup_codes", "code", "passphrase"):
        with pytest.raises(ValueError, match="may not carry"):
            AuditEvent(EventType.LOGIN_FAILED, details={key: "x"})
    AuditEvent(EventType.LOGIN_FAILED, details={"referral_code": "ABC", "reason": "x"})


async def test_cli_verify_and_export(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "cli.db"
    db = Database(path)
    await db.open()
    await fill(db, 5)
    await db.close()
    monkeypatch.setenv("VERZEK_DB", str(path))
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", TEST_MASTER_KEY)
    monkeypatch.chdir(tmp_path)

    assert await asyncio.to_thread(main, ["audit", "verify"]) == 0
    assert "audit chain OK: 5 rows" in capsys.readouterr().out

    assert await asyncio.to_thread(main, ["audit", "export"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5
    first = json.loads(lines[0])
    assert first["event_type"] == "LOGIN_FAILED" and first["id"] == 1
    assert await asyncio.to_thread(main, ["audit", "export", "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""

    await tamper(path, "UPDATE audit_events SET severity = 'info' WHERE id = 2")
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 1
    assert "BROKEN at row 2" in capsys.readouterr().out


async def test_nested_unit_of_work_fails_fast_instead_of_deadlocking(database: Database) -> None:
    async with database.unit_of_work():
        with pytest.raises(RuntimeError, match="inside another one"):
            async with database.unit_of_work():
                pass
    async with database.unit_of_work(read_only=True):  # the lock was released properly
        pass
