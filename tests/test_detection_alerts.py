"""Detection rules, the alert outbox, and delivery to the admin chat through the fake Bot API."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from telegram.error import NetworkError, RetryAfter, TimedOut

from bot.jobs.outbox import OutboxDelivery
from core.audit.detection import Detector, Finding, report_finding
from core.audit.log import AuditEvent, AuditLog, EventType, Severity
from core.clock import FakeClock
from core.config import AlertSettings
from core.money import MICRO
from core.services import Services
from storage.audit_search_repository import SqliteAuditSearchRepository
from storage.database import Database
from storage.postgres.database import PostgresDatabase
from tests.support import raw_db
from tests.support.chain_keys import chain_keys
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness


async def rows(services: Services, sql: str, *params) -> list[tuple]:
    return await raw_db.rows(services.settings, sql, *params)


async def eventually(check, timeout: float = 5.0):
    """Poll an async condition (delivery marks a row sent just after Telegram accepted it)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := await check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return result


async def outbox_runs(bot: BotHarness, times: int = 3) -> None:
    """The delivery job runs ``times`` more times, now, rather than a test waiting seconds for
    its schedule (what a run must not do is the point: nothing sent twice, nothing early)."""
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name("outbox")
    for _ in range(times):
        await job.run(bot.app)


async def alerts(services: Services) -> list[tuple]:
    return await rows(
        services, "SELECT rule, subject, folded, status, evidence FROM alerts ORDER BY id"
    )


async def hits(services: Services) -> list:
    return [
        row
        async for row in services.audit.export()
        if row.event_type == EventType.SUSPICIOUS_ACTIVITY
    ]


async def emit(services: Services, kind: EventType, times: int = 1, **fields) -> None:
    for _ in range(times):
        await services.audit.record(AuditEvent(kind, Severity.WARNING, **fields))


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


# --- delivery to the admin chat ----------------------------------------------------------------


async def deny(bot: BotHarness, user_id: int = 4242) -> None:
    (reply,) = await bot.send(bot.user(user_id), "/stats")
    assert reply.plain == "Sorry, that command is not available."


async def denied_quietly(bot: BotHarness, user_id: int = 4242) -> None:
    """What the gate records for a refused admin command, without its reply to the user (so
    a failure scheduled for sendMessage hits the alert)."""
    await emit(
        bot.services,
        EventType.ADMIN_ACTION,
        telegram_user_id=user_id,
        details={"action": "/stats", "outcome": "denied", "reason": "not an admin"},
    )


def messages_text(messages) -> list[str]:
    return [m.plain for m in messages]


def admin_messages(bot: BotHarness, count: int):
    """A wait_for condition: the admin chat holds exactly ``count`` messages."""

    def check():
        messages = bot.api.sent_to(ADMIN_CHAT_ID)
        return messages if len(messages) == count else None

    return check


async def test_alert_reaches_the_admin_chat_within_five_seconds(bot: BotHarness) -> None:
    await deny(bot)
    (alert,) = await bot.wait_for(lambda: bot.api.sent_to(ADMIN_CHAT_ID), timeout=5)
    assert alert.parse_mode == "HTML"
    assert "⚠️ Security alert: Admin command by a non-admin" in alert.plain
    assert "Who: Telegram user 4242" in alert.plain
    assert "When: 2026-01-01 00:00:00 UTC" in alert.plain
    assert "Evidence: action: /stats" in alert.plain
    assert "/audit tg:4242" in alert.plain
    [(attempts, message_id)] = await eventually(
        lambda: rows(
            bot.services, "SELECT attempts, telegram_message_id FROM alerts WHERE status = 'sent'"
        )
    )
    assert (attempts, message_id) == (1, alert.message_id)
    await outbox_runs(bot)  # more job runs: nothing is sent twice
    assert len(bot.api.sent_to(ADMIN_CHAT_ID)) == 1


@pytest.mark.quick_jobs
@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},
        {"status": 502},
        {"exception": NetworkError},
        {"exception": TimedOut},
    ],
)
async def test_a_failed_send_is_retried_with_backoff_and_delivered_once(
    bot: BotHarness, clock: FakeClock, failure: dict
) -> None:
    bot.api.fail("sendMessage", times=1, **failure)
    await denied_quietly(bot)
    await bot.wait_for(lambda: bot.api.failures[0].times == 0, timeout=5)
    await eventually(  # the failed run has recorded its failure
        lambda: rows(bot.services, "SELECT id FROM alerts WHERE last_error IS NOT NULL")
    )
    await outbox_runs(bot)  # further runs: not due yet (the clock has not moved)
    assert bot.api.sent_to(ADMIN_CHAT_ID) == []
    [(status, attempts, next_at, error)] = await rows(
        bot.services, "SELECT status, attempts, next_attempt_at, last_error FROM alerts"
    )
    assert (status, attempts) == ("pending", 1) and error
    assert next_at == "2026-01-01T00:00:02.000000Z"  # first backoff: 2 s
    clock.advance(seconds=2)
    (alert,) = await bot.wait_for(lambda: bot.api.sent_to(ADMIN_CHAT_ID), timeout=5)
    assert "Admin command by a non-admin" in alert.plain
    [(attempts,)] = await eventually(
        lambda: rows(bot.services, "SELECT attempts FROM alerts WHERE status = 'sent'")
    )
    assert attempts == 2
    await outbox_runs(bot)
    assert len(bot.api.sent_to(ADMIN_CHAT_ID)) == 1


async def test_flood_limit_is_waited_out_and_the_alert_sent_once(
    bot: BotHarness, monkeypatch
) -> None:
    # PTB 22 warns about RetryAfter's int form while building it; opt in to the new form.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    bot.api.fail("sendMessage", times=1, status=429, retry_after=1)
    await denied_quietly(bot)
    (alert,) = await bot.wait_for(lambda: bot.api.sent_to(ADMIN_CHAT_ID), timeout=5)
    assert "Admin command by a non-admin" in alert.plain
    await outbox_runs(bot)
    assert len(bot.api.sent_to(ADMIN_CHAT_ID)) == 1


class RefusingBot:
    """A stand-in Bot whose sendMessage always fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def send_message(self, chat_id: int, text: str) -> None:
        self.calls += 1
        raise self.error


async def test_retry_after_beyond_the_limiters_retries_sets_the_next_attempt(
    services: Services, clock: FakeClock, monkeypatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22 warns when building RetryAfter
    await emit(services, EventType.MFA_FAILED, account_id=1, details={"reason": "replay"})
    delivery = OutboxDelivery()
    stub = RefusingBot(RetryAfter(timedelta(seconds=30)))
    assert await delivery.deliver_alerts(stub, services) == 0  # type: ignore[arg-type]  # stub: only send_message
    [(attempts, next_at)] = await rows(services, "SELECT attempts, next_attempt_at FROM alerts")
    assert attempts == 1 and next_at == "2026-01-01T00:00:30.000000Z"
    clock.advance(seconds=29)
    assert await delivery.deliver_alerts(stub, services) == 0  # type: ignore[arg-type]  # stub: only send_message
    assert stub.calls == 1
    clock.advance(seconds=1)
    await delivery.deliver_alerts(stub, services)  # type: ignore[arg-type]  # stub: only send_message
    [(attempts, next_at)] = await rows(services, "SELECT attempts, next_attempt_at FROM alerts")
    assert attempts == 2 and next_at == "2026-01-01T00:01:00.000000Z"  # never given up


async def test_backoff_grows_and_is_capped() -> None:
    from core.audit.alerts import backoff

    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff(50) == timedelta(minutes=5)
    assert backoff(1, retry_after=42) == timedelta(seconds=42)


async def test_a_crash_mid_send_only_delays_the_alert(services: Services, clock) -> None:
    await emit(services, EventType.MFA_FAILED, account_id=1, details={"reason": "replay"})
    [claimed] = await services.alerts.claim_due()  # ... and the process dies right here
    assert await services.alerts.claim_due() == []  # leased, not lost
    clock.advance(seconds=61)
    [again] = await services.alerts.claim_due()
    assert again.id == claimed.id and again.attempts == 2


@pytest.mark.quick_jobs
async def test_folded_count_reaches_the_admin_chat(bot: BotHarness, clock: FakeClock) -> None:
    for _ in range(3):
        await deny(bot)
    await bot.wait_for(lambda: bot.api.sent_to(ADMIN_CHAT_ID), timeout=5)
    clock.advance(minutes=10, seconds=1)
    await deny(bot)
    _, second = await bot.wait_for(admin_messages(bot, 2), timeout=5)
    assert "Folded in: 2 more hits" in second.plain
    assert "Folded in" not in bot.api.sent_to(ADMIN_CHAT_ID)[0].plain


@pytest.mark.quick_jobs
async def test_alert_text_is_html_escaped(bot: BotHarness, clock: FakeClock) -> None:
    async with bot.services.uow() as uow:
        await report_finding(
            uow,
            bot.services.audit,
            Finding(
                "killswitch",
                Severity.CRITICAL,
                "platform",
                None,
                9001,
                {"reason": "<b>drill</b> & <script>"},
            ),
            at=clock.now(),
            dedupe=timedelta(minutes=10),
        )
        await uow.commit()
    (alert,) = await bot.wait_for(lambda: bot.api.sent_to(ADMIN_CHAT_ID), timeout=5)
    assert "🚨 Security alert: Kill switch changed" in alert.plain
    assert "reason: <b>drill</b> & <script>" in alert.plain


@pytest.mark.quick_jobs
async def test_failed_logins_through_the_bot_alert_the_admins(bot: BotHarness) -> None:
    from tests.support.steps import EMAIL, login, register

    await register(bot, bot.user(1))
    for _ in range(5):
        await login(bot, bot.user(2), EMAIL, "guess guess guess 1")
    messages = await bot.wait_for(admin_messages(bot, 2), timeout=5)
    per_account, per_user = sorted((m.plain for m in messages), key=lambda t: "account #" not in t)
    assert all(
        "Repeated failed logins" in t and "5 in 10 min" in t for t in messages_text(messages)
    )
    assert "Who: account #1 · Telegram user 2" in per_account and "per account" in per_account
    assert "Who: Telegram user 2\n" in per_user and "per telegram user" in per_user


@pytest.mark.quick_jobs
async def test_a_replayed_totp_code_through_the_bot_alerts_the_admins(
    bot: BotHarness, clock: FakeClock
) -> None:
    from tests.support.steps import enable_2fa, login_with_code

    alice = bot.user(1)
    totp, _ = await enable_2fa(bot, alice, clock)
    await bot.send(alice, "/logout")
    clock.advance(seconds=30)
    code = totp.at(clock.now())
    await login_with_code(bot, alice, code)
    await bot.send(alice, "/logout")
    assert "already used" in await login_with_code(bot, alice, code)
    (alert,) = await bot.wait_for(lambda: bot.api.sent_to(ADMIN_CHAT_ID), timeout=5)
    assert "🚨 Security alert: Reused 2FA code" in alert.plain
    assert "account #1 · Telegram user 1" in alert.plain


async def test_alerts_wait_while_no_admin_chat_is_configured(services: Services, settings) -> None:
    await emit(services, EventType.MFA_FAILED, account_id=1, details={"reason": "replay"})
    services.settings = replace(settings, telegram=replace(settings.telegram, admin_chat_id=None))
    stub = RefusingBot(RuntimeError("must not be called"))
    assert await OutboxDelivery().deliver_alerts(stub, services) == 0  # type: ignore[arg-type]  # stub: only send_message
    assert stub.calls == 0
    [(status, attempts)] = await rows(services, "SELECT status, attempts FROM alerts")
    assert (status, attempts) == ("pending", 0)
