"""Records carry datetimes and enums; the database keeps exactly the text it always had.

Storage converts at its boundary (storage/columns.py): a time is written as ``to_iso`` text
and read back UTC-aware, an enum as its value. These tests write each converted record through
its repository and compare the raw columns with the literal pre-change text, and prove the
audit chain (which hashes a row's time as its stored text) still verifies on rows written the
old way, while a hand-respelled time is reported instead of silently re-canonicalised.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from bot.cli import main
from core.accounts.ports import EndReason
from core.audit.log import AuditEvent, AuditLog, EventType
from core.audit.ports import Severity
from core.clock import FakeClock, from_iso, to_iso
from storage.columns import read_time_exact
from storage.database import Database
from storage.snapshot import SqliteDatabaseFiles
from tests.support.chain_keys import TEST_MASTER_KEY, chain_keys

T0 = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
T0_TEXT = "2026-03-04T05:06:07.890123Z"
T1 = T0 + timedelta(minutes=5)
T1_TEXT = "2026-03-04T05:11:07.890123Z"
# Timestamps as the app has written them since the first release (to_iso), edge cases included.
OLD_TIMES = [
    "2026-01-01T00:00:00.000000Z",
    "2026-02-28T23:59:59.999999Z",
    "2028-02-29T12:00:00.000001Z",
    "2026-12-31T23:59:59.500000Z",
    T0_TEXT,
]


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(tmp_path / "stored.db")
    await db.open()
    yield db
    await db.close()


async def raw(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async with aiosqlite.connect(db.path) as conn:
        async with conn.execute(sql, params) as cur:
            return [tuple(row) for row in await cur.fetchall()]


def utc(when: datetime | None) -> bool:
    return when is not None and when.utcoffset() == timedelta(0)


def old_hash(body: dict[str, Any]) -> str:
    """The chain's hash as the code before this change computed it: ``ts`` was the text."""
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()


async def write_old_chain(path: Path, times: list[str]) -> None:
    """Audit rows exactly as a database written before records carried datetimes holds them."""
    async with aiosqlite.connect(path) as conn:
        prev = "0" * 64
        for n, ts in enumerate(times, start=1):
            details = {"n": n, "note": "ünïcode ✓"}
            body = {
                "id": n,
                "ts": ts,
                "event_type": "LOGIN_FAILED",
                "severity": "warning",
                "account_id": None,
                "telegram_user_id": 1000 + n,
                "details": details,
                "prev_hash": prev,
            }
            digest = old_hash(body)
            await conn.execute(
                "INSERT INTO audit_events (id, ts, event_type, severity, account_id,"
                " telegram_user_id, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    n,
                    ts,
                    "LOGIN_FAILED",
                    "warning",
                    None,
                    1000 + n,
                    json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                    prev,
                    digest,
                ),
            )
            prev = digest
        await conn.execute(
            "INSERT INTO audit_head (singleton, last_id, last_hash) VALUES (1, ?, ?)",
            (len(times), prev),
        )
        await conn.commit()


def test_stored_times_round_trip_exactly() -> None:
    for text in OLD_TIMES:
        when = read_time_exact(text)
        assert utc(when) and to_iso(when) == text
    step = timedelta(days=3, hours=7, seconds=13, microseconds=7919)
    when = datetime(2025, 1, 1, tzinfo=UTC)
    for _ in range(2000):
        assert read_time_exact(to_iso(when)) == when
        when += step
    for respelled in ("2026-01-01T00:00:00.5Z", "2026-1-01T00:00:00.000000Z", "yesterday"):
        with pytest.raises(ValueError):
            read_time_exact(respelled)


async def test_audit_rows_written_before_the_change_read_back_and_verify(
    database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    await write_old_chain(database.path, OLD_TIMES)
    log = AuditLog(database.unit_of_work, FakeClock(T1), keys=chain_keys())
    rows = [row async for row in log.export()]
    assert [to_iso(row.ts) for row in rows] == OLD_TIMES
    assert all(utc(row.ts) for row in rows)
    report = await log.verify()
    assert report.ok and report.checked == len(OLD_TIMES)

    # Chains onto the old rows, same form, after the keyed seal (AUDIT_CHAIN_KEYED) over them.
    await log.record(AuditEvent(EventType.LOGOUT))
    report = await log.verify()
    assert report.ok and report.legacy_rows == len(OLD_TIMES)
    stored = await raw(database, "SELECT ts FROM audit_events WHERE id = ?", len(OLD_TIMES) + 2)
    assert stored == [(to_iso(T1),)]
    await database.close()

    monkeypatch.setenv("VERZEK_DB", str(database.path))
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", TEST_MASTER_KEY)
    monkeypatch.chdir(tmp_path)
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 0
    assert f"audit chain OK: {len(OLD_TIMES) + 2} rows" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["audit", "export"]) == 0
    exported = [json.loads(line)["ts"] for line in capsys.readouterr().out.splitlines()]
    # The export still writes the stored text.
    assert exported == [*OLD_TIMES, to_iso(T1), to_iso(T1)]
    await database.open()


@pytest.mark.parametrize(
    "respelled", ["2026-02-28T23:59:59.999999+00:00", "2026-02-28T23:59:59.999999", "garbage"]
)
async def test_a_respelled_audit_time_is_reported_not_recanonicalised(
    database: Database, respelled: str
) -> None:
    await write_old_chain(database.path, OLD_TIMES)
    async with aiosqlite.connect(database.path) as conn:
        await conn.execute("DROP TRIGGER audit_events_no_update")
        await conn.execute("UPDATE audit_events SET ts = ? WHERE id = 2", (respelled,))
        await conn.commit()
    report = await AuditLog(database.unit_of_work, FakeClock(), keys=chain_keys()).verify()
    assert not report.ok and report.bad_row_id == 2 and report.checked == 1


async def test_twofactor_records_keep_their_text(database: Database) -> None:
    async with database.unit_of_work() as uow:
        account = await uow.accounts.add(
            email="a@example.com",
            password_hash="h",
            referral_code="R1",
            referred_by=None,
            created_at=T0,
        )
        await uow.twofactor.put_pending(account, "enc", T0)
        assert await uow.twofactor.enable(account, T1, 7)
        await uow.twofactor.replace_backup_codes(account, ["x"], T1)
        (code,) = await uow.twofactor.unused_backup_codes(account)
        assert await uow.twofactor.use_backup_code(code.id, T1)
        await uow.twofactor.add_failure(account, T0)
        await uow.twofactor.add_failure(account, T1)
        await uow.commit()
    assert await raw(database, "SELECT created_at, enabled_at FROM mfa") == [(T0_TEXT, T1_TEXT)]
    assert await raw(database, "SELECT created_at, used_at FROM backup_codes") == [
        (T1_TEXT, T1_TEXT)
    ]
    assert await raw(database, "SELECT at FROM mfa_failures ORDER BY id") == [
        (T0_TEXT,),
        (T1_TEXT,),
    ]
    async with database.unit_of_work(read_only=True) as uow:
        record = await uow.twofactor.get(account)
        assert record is not None
        assert (record.created_at, record.enabled_at) == (T0, T1)
        assert utc(record.created_at) and utc(record.enabled_at)
        times = await uow.twofactor.failures_since(account, T0)
        assert times == [T0, T1] and all(utc(t) for t in times)
        assert await uow.twofactor.failures_since(account, T0 + timedelta(microseconds=1)) == [T1]


async def test_login_failures_and_sessions_keep_their_text(database: Database) -> None:
    async with database.unit_of_work() as uow:
        account = await uow.accounts.add(
            email="b@example.com",
            password_hash="h",
            referral_code="R2",
            referred_by=None,
            created_at=T0,
        )
        await uow.accounts.add_login_failure("b@example.com", 42, T0)
        session = await uow.sessions.add(
            account_id=account, telegram_user_id=42, created_at=T0, expires_at=T1
        )
        await uow.sessions.end(session, T1, EndReason.MFA_ENABLED)
        await uow.commit()
    assert await raw(database, "SELECT at FROM login_failures") == [(T0_TEXT,)]
    assert await raw(database, "SELECT ended_at, end_reason FROM sessions") == [
        (T1_TEXT, "mfa_enabled")
    ]
    async with database.unit_of_work(read_only=True) as uow:
        every = await uow.accounts.login_failures_since(email_key="b@example.com", since=T0)
        assert every == [T0] and utc(every[0])
        assert await uow.accounts.telegram_failures_since(telegram_user_id=42, since=T1) == []
        assert await uow.accounts.logged_in_from(account_id=account, telegram_user_id=42, since=T0)
        ended = await uow.sessions.get(session)
        assert ended is not None and ended.end_reason is EndReason.MFA_ENABLED
        assert utc(ended.ended_at)


async def test_alerts_notices_and_restore_notices_keep_their_text(database: Database) -> None:
    log = AuditLog(database.unit_of_work, FakeClock(T0), keys=chain_keys())
    async with database.unit_of_work() as uow:
        account = await uow.accounts.add(
            email="c@example.com",
            password_hash="h",
            referral_code="R3",
            referred_by=None,
            created_at=T0,
        )
        event = await log.append(uow, AuditEvent(EventType.LOGOUT))
        assert event.ts == T0 and utc(event.ts)
        alert_id = await uow.alerts.add(
            created_at=event.ts,
            rule="rule",
            severity=Severity.CRITICAL,
            subject="s",
            account_id=None,
            telegram_user_id=None,
            audit_event_id=event.id,
            evidence={},
            folded=0,
        )
        notice_id = await uow.notices.add(
            created_at=event.ts,
            telegram_user_id=42,
            account_id=account,
            audit_event_id=event.id,
            event_type="LOGOUT",
            details={},
        )
        await uow.restore_notices.add([42], archive_created_at=T0, at=T1)
        await uow.commit()
    assert await raw(database, "SELECT ts FROM audit_events") == [(T0_TEXT,)]
    assert await raw(
        database, "SELECT created_at, severity, next_attempt_at, status FROM alerts"
    ) == [(T0_TEXT, "critical", T0_TEXT, "pending")]
    assert await raw(database, "SELECT last_alert_at FROM alert_dedupe") == [(T0_TEXT,)]
    assert await raw(database, "SELECT created_at, next_attempt_at FROM user_notices") == [
        (T0_TEXT, T0_TEXT)
    ]
    assert await raw(database, "SELECT archive_created_at, created_at FROM restore_notices") == [
        (T0_TEXT, T1_TEXT)
    ]

    async with database.unit_of_work() as uow:
        state = await uow.alerts.dedupe_state("rule", "s")
        assert state is not None and state.last_alert_at == T0 and utc(state.last_alert_at)
        (alert,) = await uow.alerts.claim_due(now=T0, lease_until=T1, limit=5)
        assert alert.severity is Severity.CRITICAL and utc(alert.created_at)
        await uow.alerts.mark_sent(alert_id, at=T1, message_id=None)
        (notice,) = await uow.notices.claim_due(now=T0, lease_until=T1, limit=5)
        assert notice.created_at == T0 and utc(notice.created_at)
        await uow.notices.reschedule(notice_id, next_attempt_at=T1, error="x")
        (restore,) = await uow.restore_notices.due(5)
        assert restore.archive_created_at == T0 and utc(restore.archive_created_at)
        (counted,) = await uow.alerts.summary_since(T0 - timedelta(microseconds=1))
        assert counted.alerts_sent == 1
        stats = await uow.stats.snapshot(now=T1, day_start=T0)
        assert stats.alerts_today == 1
        await uow.commit()
    assert await raw(database, "SELECT sent_at, status FROM alerts") == [(T1_TEXT, "sent")]
    assert await raw(database, "SELECT next_attempt_at FROM user_notices") == [(T1_TEXT,)]
    assert from_iso(T1_TEXT) == T1


async def test_key_check_and_restore_session_ends_keep_their_text(database: Database) -> None:
    async with database.unit_of_work() as uow:
        await uow.key_check.put("mac", T0)
        account = await uow.accounts.add(
            email="d@example.com",
            password_hash="h",
            referral_code="R4",
            referred_by=None,
            created_at=T0,
        )
        await uow.sessions.add(
            account_id=account, telegram_user_id=7, created_at=T0, expires_at=T1 + timedelta(days=1)
        )
        await uow.commit()
    assert await raw(database, "SELECT written_at FROM key_check") == [(T0_TEXT,)]
    await database.close()
    files = SqliteDatabaseFiles(database)
    assert await files.live_session_users(database.path, T1) == [7]
    assert await files.end_sessions(database.path, T1, EndReason.RESTORED) == 1
    assert await raw(database, "SELECT ended_at, end_reason FROM sessions") == [
        (T1_TEXT, "restored")
    ]
    await database.open()
