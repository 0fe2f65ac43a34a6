"""The alert outbox and its delivery to the admin chat through the fake Bot API: within five
seconds, retried with capped backoff and delivered once after failures, flood limits and crashes
mid-send, folded counts and HTML-escaped text, alerts raised through the bot itself, and waiting
while no admin chat is configured.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from telegram.error import NetworkError, RetryAfter, TimedOut

from bot.jobs.outbox import OutboxDelivery
from core.audit.detection import Finding, report_finding
from core.audit.log import EventType, Severity
from core.clock import FakeClock
from core.services import Services
from tests.support.alert_steps import emit, rows
from tests.support.constants import ADMIN_CHAT_ID
from tests.support.harness import BotHarness


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
