"""/settings governs every notice of its kind, through the real bot (SPEC §11): renewal
reminders (a reminder turned off is recorded as skipped and never sent later), payment news a
job decided (the re-check job, the address watcher) while the direct answer to the payer's own
/pay is always shown, and logins told to every other Telegram account of the account."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import texts
from bot.fake_telegram import TelegramUser
from core.clock import FakeClock
from tests.support import steps
from tests.support.fake_tronscan import SUCCESS_HASH, FakeTronscan, incoming, success
from tests.support.harness import BotHarness
from tests.support.payment_steps import invoice_for, payer, said
from tests.support.sessions_steps import login, make_victim, texts_to
from tests.support.steps import db_rows
from tests.support.watch_steps import recheck_round, watch_round

EMAIL = "prefs@example.com"
LOGIN_NOTICE = "Someone logged in to your Verzek account from another of your Telegram"
NEW_ACCOUNT_WARNING = "was just logged in from another Telegram account"


async def turn_off(bot: BotHarness, user: TelegramUser, label: str) -> None:
    """/settings, then press the kind's "on" button."""
    (screen,) = await bot.send(user, "/settings")
    await bot.press(user, screen, f"{label}: ✅ on")
    assert f"{label}: ⬜ off" in [b.text for b in screen.buttons]


async def turn_on(bot: BotHarness, user: TelegramUser, label: str) -> None:
    (screen,) = await bot.send(user, "/settings")
    await bot.press(user, screen, f"{label}: ⬜ off")


async def run_reminders(bot: BotHarness) -> None:
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name("renewal-reminders")
    await job.run(bot.app)


def reminders(bot: BotHarness, user: TelegramUser) -> list[str]:
    return [t for t in bot.texts(user.id) if "plan ends on" in t]


# --- reminders ---------------------------------------------------------------------------------


@pytest.mark.payments
async def test_reminders_turned_off_are_recorded_as_skipped_and_never_sent_later(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await payer(bot, 2, EMAIL)
    await invoice_for(bot, user)
    fake.add(success())
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, user, "until 2025-12-28 03:00")
    await turn_off(bot, user, "Reminders")

    clock.set(datetime(2025, 12, 25, 4, 0, tzinfo=UTC))  # 3 days before: due
    await run_reminders(bot)
    await run_reminders(bot)
    assert reminders(bot, user) == []
    assert await db_rows(bot, "SELECT days_before, skipped FROM license_reminders") == [(3, 1)]

    await steps.login(bot, user, EMAIL, steps.PASSWORD)  # days later: a new session
    await turn_on(bot, user, "Reminders")  # the 3-day one stays decided: not sent late
    await run_reminders(bot)
    assert reminders(bot, user) == []
    clock.set(datetime(2025, 12, 27, 4, 0, tzinfo=UTC))  # 1 day before, reminders on again
    await run_reminders(bot)
    assert len(reminders(bot, user)) == 1 and "about 1 day left" in reminders(bot, user)[0]
    assert await db_rows(
        bot, "SELECT days_before, skipped FROM license_reminders ORDER BY days_before"
    ) == [(1, 0), (3, 1)]


# --- payments ----------------------------------------------------------------------------------


@pytest.mark.payments
async def test_the_answer_to_the_payers_own_pay_is_shown_even_with_payments_off(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    user = await payer(bot, 2, EMAIL)
    await invoice_for(bot, user)
    await turn_off(bot, user, "Payments")
    fake.add(success())
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    assert "Payment #1 confirmed" in await said(bot, user, "Payment #1 confirmed")


@pytest.mark.payments
async def test_an_approval_the_recheck_job_finds_respects_payments_off(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    user = await payer(bot, 2, EMAIL)
    await invoice_for(bot, user)
    fake.add(success(confirmations=5))
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, user, "5/19")  # the answer to /pay itself
    await turn_off(bot, user, "Payments")
    sent = len(bot.api.sent_to(user.id))
    fake.add(success(confirmations=25))
    await recheck_round(bot)
    assert await db_rows(bot, "SELECT status FROM payments") == [("approved",)]
    assert len(bot.api.sent_to(user.id)) == sent  # approved, and not told: the owner's choice


@pytest.mark.payments
async def test_an_approval_the_recheck_job_finds_is_told_by_default(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    user = await payer(bot, 2, EMAIL)
    await invoice_for(bot, user)
    fake.add(success(confirmations=5))
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, user, "5/19")
    fake.add(success(confirmations=25))
    await recheck_round(bot)
    assert "Payment #1 confirmed" in await said(bot, user, "Payment #1 confirmed")


@pytest.mark.payments
async def test_a_payment_the_watcher_finds_is_not_told_with_payments_off(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await payer(bot, 2, "quiet@example.com")
    await invoice_for(bot, user)
    await turn_off(bot, user, "Payments")
    sent = len(bot.api.sent_to(user.id))
    fake.incoming.append(incoming(confirmed=0))
    fake.add(success(confirmations=5))
    clock.advance(minutes=30)
    await watch_round(bot)  # "seen, 5/19" is news, not an answer: held back
    fake.add(success(confirmations=12))
    await recheck_round(bot)  # and no status message appears later either
    fake.add(success(confirmations=25))
    await recheck_round(bot)
    assert await db_rows(bot, "SELECT status FROM payments") == [("approved",)]
    assert len(bot.api.sent_to(user.id)) == sent
    assert await db_rows(bot, "SELECT COUNT(*) FROM payment_status_messages") == [(0,)]


# --- logins ------------------------------------------------------------------------------------


@pytest.mark.quick_jobs
async def test_a_login_from_a_new_telegram_account_reaches_every_other_one_when_logins_on(
    bot: BotHarness, clock: FakeClock
) -> None:
    victim = await make_victim(bot, clock, mfa=False)  # the phone, then the laptop
    await turn_on(bot, victim.phone, "Logins")
    clock.advance(minutes=1)
    tablet = bot.user(7777, "Tablet")  # never used on this account
    assert "You're logged in" in await login(bot, tablet)
    # The laptop logged in last: it is warned at once (critical, whatever is chosen) ...
    assert any(NEW_ACCOUNT_WARNING in t for t in texts_to(bot, victim.laptop.id))
    # ... and the phone, another of the account's Telegram accounts, is told too (logins on).
    await bot.wait_for(lambda: any(LOGIN_NOTICE in t for t in texts_to(bot, victim.phone.id)))
    assert sum(LOGIN_NOTICE in t for t in texts_to(bot, victim.phone.id)) == 1
    assert not any(LOGIN_NOTICE in t for t in texts_to(bot, victim.laptop.id))  # told once
    assert not any(LOGIN_NOTICE in t for t in texts_to(bot, tablet.id))


async def test_with_logins_off_only_the_previous_account_hears_of_a_new_one(
    bot: BotHarness, clock: FakeClock
) -> None:
    victim = await make_victim(bot, clock, mfa=False)
    clock.advance(minutes=1)
    tablet = bot.user(7777, "Tablet")
    assert "You're logged in" in await login(bot, tablet)
    assert any(NEW_ACCOUNT_WARNING in t for t in texts_to(bot, victim.laptop.id))
    assert await db_rows(bot, "SELECT COUNT(*) FROM user_notices") == [(0,)]
    assert texts.NOTICE_LOGIN not in texts_to(bot, victim.phone.id)
