"""Detection rules: each fires at its threshold and not below (failed logins and 2FA, reused
TOTP codes, API-key changes, large withdrawals, new Telegram accounts, admin commands by
non-admins), thresholds come from the config, and alerts fold per rule and subject, never recurse
on the detector's own events, vanish with a rolled-back event, count through an index and keep
the audit chain valid under concurrent writers.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from core.audit.detection import Detector, Finding, report_finding
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.clock import FakeClock
from core.config import AlertSettings
from core.money import MICRO
from core.services import Services
from storage.audit_search_repository import SqliteAuditSearchRepository
from storage.database import Database
from storage.postgres.database import PostgresDatabase
from tests.support.alert_steps import alerts, emit, hits, rows
from tests.support.chain_keys import chain_keys

# --- each rule fires at its threshold and not below ----------------------------------------


async def test_failed_logins_per_account_fire_at_five(services: Services) -> None:
    # Four different Telegram users, so only the per-account count reaches anything.
    for tg in (11, 12, 13, 14):
        await emit(services, EventType.LOGIN_FAILED, account_id=7, telegram_user_id=tg)
    assert await alerts(services) == []
    await emit(services, EventType.LOGIN_FAILED, account_id=7, telegram_user_id=15)
    [(rule, subject, folded, status, evidence)] = await alerts(services)
    assert (rule, subject, folded, status) == ("failed_logins", "account:7", 0, "pending")
    assert '"count":5' in evidence and '"window_minutes":10' in evidence
    [hit] = await hits(services)
    assert hit.account_id == 7 and hit.telegram_user_id == 15
    assert hit.details["rule"] == "failed_logins" and hit.details["count"] == 5
    assert hit.details["alerted"] is True and hit.severity == "warning"


async def test_failed_logins_per_telegram_user_fire_at_five_even_for_unknown_emails(
    services: Services,
) -> None:
    await emit(services, EventType.LOGIN_FAILED, 4, account_id=None, telegram_user_id=66)
    assert await alerts(services) == []
    await emit(services, EventType.LOGIN_FAILED, account_id=None, telegram_user_id=66)
    [(rule, subject, *_)] = await alerts(services)
    assert (rule, subject) == ("failed_logins", "telegram:66")
    [hit] = await hits(services)
    assert hit.account_id is None and hit.telegram_user_id == 66


async def test_failed_logins_outside_the_window_do_not_count(
    services: Services, clock: FakeClock
) -> None:
    await emit(services, EventType.LOGIN_FAILED, 4, account_id=3, telegram_user_id=30)
    clock.advance(minutes=10)  # the first four are now exactly 10 minutes old: out
    await emit(services, EventType.LOGIN_FAILED, account_id=3, telegram_user_id=30)
    assert await alerts(services) == []
    await emit(services, EventType.LOGIN_FAILED, 3, account_id=3, telegram_user_id=30)
    assert await alerts(services) == []
    clock.advance(minutes=9, seconds=59)
    await emit(services, EventType.LOGIN_FAILED, account_id=3, telegram_user_id=30)
    subjects = sorted(subject for _, subject, *_ in await alerts(services))
    assert subjects == ["account:3", "telegram:30"]


async def test_failed_2fa_fire_at_three_in_five_minutes(
    services: Services, clock: FakeClock
) -> None:
    wrong = {"reason": "wrong_code", "purpose": "login"}
    await emit(services, EventType.MFA_FAILED, 2, account_id=5, telegram_user_id=50, details=wrong)
    clock.advance(minutes=4, seconds=59)
    assert await alerts(services) == []
    await emit(services, EventType.MFA_FAILED, account_id=5, telegram_user_id=50, details=wrong)
    [(rule, subject, *_)] = await alerts(services)
    assert (rule, subject) == ("failed_2fa", "account:5")
    assert (await hits(services))[0].severity == "critical"


async def test_reused_totp_code_alerts_at_once(services: Services) -> None:
    await emit(
        services,
        EventType.MFA_FAILED,
        account_id=5,
        telegram_user_id=50,
        details={"reason": "replay", "purpose": "login"},
    )
    [(rule, subject, *_)] = await alerts(services)
    assert (rule, subject) == ("totp_replay", "account:5")


async def test_api_key_changes_fire_at_three_of_any_kind(services: Services) -> None:
    await emit(services, EventType.API_KEY_ADDED, account_id=9, telegram_user_id=90)
    await emit(services, EventType.API_KEY_UPDATED, account_id=9, telegram_user_id=90)
    await emit(services, EventType.API_KEY_ADDED, account_id=8, telegram_user_id=80)
    assert await alerts(services) == []
    await emit(services, EventType.API_KEY_DELETED, account_id=9, telegram_user_id=90)
    [(rule, subject, _, _, evidence)] = await alerts(services)
    assert (rule, subject) == ("api_key_changes", "account:9") and '"count":3' in evidence


async def test_large_withdrawal_fires_at_the_threshold(services: Services) -> None:
    await emit(
        services,
        EventType.WITHDRAWAL_REQUESTED,
        account_id=4,
        telegram_user_id=40,
        details={"amount_micro": 1000 * MICRO - 1},
    )
    assert await alerts(services) == []
    await emit(
        services,
        EventType.WITHDRAWAL_REQUESTED,
        account_id=4,
        telegram_user_id=40,
        details={"amount_micro": 1000 * MICRO},
    )
    [(rule, subject, _, _, evidence)] = await alerts(services)
    assert (rule, subject) == ("large_withdrawal", "account:4")
    assert f'"amount_micro":{1000 * MICRO}' in evidence


async def test_login_from_a_new_telegram_account_alerts(services: Services) -> None:
    await emit(
        services,
        EventType.LOGIN_SUCCESS,
        account_id=2,
        telegram_user_id=20,
        details={"new_telegram_account": False},
    )
    assert await alerts(services) == []
    await emit(
        services,
        EventType.LOGIN_SUCCESS,
        account_id=2,
        telegram_user_id=21,
        details={"new_telegram_account": True},
    )
    [(rule, subject, *_)] = await alerts(services)
    assert (rule, subject) == ("new_telegram_account", "account:2")


async def test_admin_command_by_a_non_admin_alerts_but_allowed_actions_do_not(
    services: Services,
) -> None:
    await emit(
        services,
        EventType.ADMIN_ACTION,
        telegram_user_id=9001,
        details={"action": "/audit", "outcome": "allowed"},
    )
    assert await alerts(services) == []
    await emit(
        services,
        EventType.ADMIN_ACTION,
        telegram_user_id=4242,
        details={"action": "/stats", "outcome": "denied"},
    )
    [(rule, subject, _, _, evidence)] = await alerts(services)
    assert (rule, subject) == ("admin_command_denied", "telegram:4242")
    assert '"action":"/stats"' in evidence


async def test_thresholds_come_from_the_config(tmp_path: Path) -> None:
    database = Database(tmp_path / "t.db")
    await database.open()
    try:
        settings = AlertSettings(failed_logins=2, failed_logins_minutes=1)
        log = AuditLog(database.unit_of_work, FakeClock(), [Detector(settings)], keys=chain_keys())
        failed = AuditEvent(EventType.LOGIN_FAILED, account_id=1, telegram_user_id=None)
        await log.record(failed)
        async with database.unit_of_work(read_only=True) as uow:
            assert await uow.alerts.recent(5) == []
        await log.record(failed)
        async with database.unit_of_work(read_only=True) as uow:
            [alert] = await uow.alerts.recent(5)
        assert alert.evidence["threshold"] == 2 and alert.evidence["window_minutes"] == 1
    finally:
        await database.close()


# --- dedupe, recursion, transactions, cost ---------------------------------------------------


async def test_same_rule_and_subject_alert_once_per_window_then_say_how_many_folded(
    services: Services, clock: FakeClock
) -> None:
    await emit(services, EventType.LOGIN_FAILED, 8, account_id=None, telegram_user_id=77)
    # Hits 5, 6, 7 and 8: one alert, three folded (each still a SUSPICIOUS_ACTIVITY event).
    assert [(r, s, f) for r, s, f, *_ in await alerts(services)] == [
        ("failed_logins", "telegram:77", 0)
    ]
    assert [h.details["alerted"] for h in await hits(services)] == [True, False, False, False]
    clock.advance(minutes=10, seconds=1)
    await emit(services, EventType.LOGIN_FAILED, 4, account_id=None, telegram_user_id=77)
    assert len(await alerts(services)) == 1  # below the threshold again in the new window
    await emit(services, EventType.LOGIN_FAILED, account_id=None, telegram_user_id=77)
    assert [(r, s, f) for r, s, f, *_ in await alerts(services)] == [
        ("failed_logins", "telegram:77", 0),
        ("failed_logins", "telegram:77", 3),
    ]
    # Each alert row counts the hits of its window (for /suspicious and /alerts).
    assert await rows(services, "SELECT hits FROM alerts ORDER BY id") == [(4,), (1,)]


async def test_other_subjects_are_not_folded(services: Services) -> None:
    for tg in (1, 2):
        await emit(
            services,
            EventType.ADMIN_ACTION,
            telegram_user_id=tg,
            details={"action": "/stats", "outcome": "denied"},
        )
    assert [s for _, s, *_ in await alerts(services)] == ["telegram:1", "telegram:2"]


async def test_the_detector_does_not_recurse_on_its_own_events(services: Services) -> None:
    await services.audit.record(
        AuditEvent(
            EventType.SUSPICIOUS_ACTIVITY,
            Severity.CRITICAL,
            account_id=1,
            details={"rule": "totp_replay", "subject": "account:1", "reason": "replay"},
        )
    )
    assert await alerts(services) == []
    assert len(await hits(services)) == 1


async def test_a_rolled_back_event_leaves_no_alert(services: Services) -> None:
    with pytest.raises(RuntimeError):
        async with services.uow() as uow:
            await services.audit.append(
                uow,
                AuditEvent(EventType.MFA_FAILED, account_id=1, details={"reason": "replay"}),
            )
            raise RuntimeError("the service failed after auditing")
    assert await alerts(services) == [] and await hits(services) == []


@pytest.mark.sqlite_only(reason="reads SQLite's EXPLAIN QUERY PLAN")
async def test_window_counts_read_an_index_not_the_log(services: Services) -> None:
    async with services.uow(read_only=True) as uow:
        assert isinstance(uow.audit_search, SqliteAuditSearchRepository)
        conn = uow.audit_search._conn
        for column in ("account_id", "telegram_user_id"):
            async with conn.execute(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM (SELECT 1 FROM audit_events"
                f" WHERE event_type IN (?, ?) AND {column} = ? AND ts > ? LIMIT ?)",
                ("API_KEY_ADDED", "API_KEY_DELETED", 1, "2026", 1000),
            ) as cur:
                plan = " ".join(str(row[-1]) for row in await cur.fetchall())
            assert "COVERING INDEX audit_events_type_" in plan, plan
            assert "SCAN audit_events" not in plan, plan


async def test_chain_stays_valid_with_the_detector_under_concurrent_writers(
    services: Services, settings
) -> None:
    failed = AuditEvent(EventType.LOGIN_FAILED, account_id=1, telegram_user_id=5)
    await asyncio.gather(*(services.audit.record(failed) for _ in range(100)))
    # A second connection (another process, such as the CLI or another instance) with its own
    # detector.
    url = settings.database.url
    other = PostgresDatabase(url) if url is not None else Database(settings.database.path)
    await other.open()
    key = settings.encryption.master_key.get()
    other_log = AuditLog(
        other.unit_of_work, FakeClock(), [Detector(settings.alerts)], keys=chain_keys(key)
    )
    try:
        await asyncio.gather(
            *(services.audit.record(failed) for _ in range(50)),
            *(other_log.record(failed) for _ in range(50)),
        )
    finally:
        await other.close()
    report = await services.audit.verify()
    assert report.ok, report
    # 200 failures: hits from the 5th on, per account and per Telegram user; one alert each.
    assert len(await hits(services)) == 2 * 196
    assert sorted(s for _, s, *_ in await alerts(services)) == ["account:1", "telegram:5"]


async def test_features_can_report_their_own_findings(services: Services, clock) -> None:
    async with services.uow() as uow:
        await report_finding(
            uow,
            services.audit,
            Finding("payment_hash_reused", Severity.CRITICAL, "account:3", 3, None, {"n": 1}),
            at=clock.now(),
            dedupe=timedelta(minutes=10),
        )
        await uow.commit()
    [(rule, subject, *_)] = await alerts(services)
    assert (rule, subject) == ("payment_hash_reused", "account:3")
