"""Renewal reminders and Telegram Stars (SPEC §7, §12): a license that renews itself through an
active Stars subscription is not nagged; once the renewal is cancelled it is reminded again
like any license, through the real bot and its hourly job."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.fake_telegram import Message, TelegramUser
from core.clock import FakeClock
from tests.support.harness import BotHarness
from tests.support.payment_steps import payer
from tests.support.stars_steps import pay_stars, stars_link
from tests.support.steps import db_rows, login

pytestmark = pytest.mark.payments


async def run_reminders(bot: BotHarness) -> None:
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name("renewal-reminders")
    await job.run(bot.app)


def reminders_to(bot: BotHarness, user: TelegramUser) -> list[Message]:
    return [m for m in bot.api.sent_to(user.id) if "plan ends on" in m.plain]


async def test_an_auto_renewing_stars_license_is_not_reminded_until_cancelled(
    bot: BotHarness, clock: FakeClock
) -> None:
    alice = await payer(bot, 2, "alice@example.com")
    start = clock.now()
    await pay_stars(bot, alice, await stars_link(bot, alice))
    clock.set(start + timedelta(days=27, hours=1))  # under 3 days left
    await run_reminders(bot)
    assert reminders_to(bot, alice) == []
    assert await db_rows(bot, "SELECT count(*) FROM license_reminders") == [(0,)]

    await login(bot, alice, email="alice@example.com")  # weeks later: a new session
    (shown,) = await bot.send(alice, "/subscription")
    (cancelled,) = await bot.press(alice, shown, "Cancel renewal")
    assert "Renewal cancelled" in cancelled.plain
    await run_reminders(bot)
    (reminder,) = reminders_to(bot, alice)
    assert "about 3 days left" in reminder.plain

    # Re-enabled: the next threshold is not nagged either.
    (shown,) = await bot.send(alice, "/subscription")
    await bot.press(alice, shown, "Re-enable renewal")
    clock.set(start + timedelta(days=29, hours=1))
    await run_reminders(bot)
    assert len(reminders_to(bot, alice)) == 1
