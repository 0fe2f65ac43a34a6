"""Renewal reminders through the real bot: 3 days and 1 day before a license ends, once per
license and threshold (across rounds, concurrent rounds and a restart), with a Renew button
that opens an invoice for the same plan; an extended license is reminded for its new end."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.fake_telegram import Message, TelegramUser
from core.clock import FakeClock
from core.payments.ports import LicenseRecord
from core.payments.reminder_rules import continued, due_threshold
from core.payments.reminders import ReminderService
from tests.support.fake_tronscan import (
    RECEIVE_ADDRESS,
    SUCCESS_HASH,
    FakeTronscan,
    success,
    tx_hash,
)
from tests.support.harness import BotHarness
from tests.support.payment_steps import invoice_for, payer, said
from tests.support.steps import db_rows, login, scan_qr

pytestmark = pytest.mark.payments

EMAIL = "renew@example.com"
ENDS = datetime(2025, 12, 28, 3, 0, tzinfo=UTC)  # the first license's end


async def run_reminders(bot: BotHarness) -> None:
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name("renewal-reminders")
    await job.run(bot.app)


def reminders_to(bot: BotHarness, user: TelegramUser) -> list[Message]:
    return [m for m in bot.api.sent_to(user.id) if "plan ends on" in m.plain]


async def licensed(bot: BotHarness, fake: FakeTronscan) -> TelegramUser:
    """A user whose basic license runs until 2025-12-28 03:00 UTC."""
    user = await payer(bot, 2, EMAIL)
    await invoice_for(bot, user)
    fake.add(success())
    await bot.send(user, f"/pay 1 {SUCCESS_HASH}")
    await said(bot, user, "until 2025-12-28 03:00")
    return user


async def test_reminders_3_days_and_1_day_before_each_sent_once(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await licensed(bot, fake)
    clock.set(datetime(2025, 12, 25, 2, 0, tzinfo=UTC))  # 3 days and 1 hour before
    await run_reminders(bot)
    assert reminders_to(bot, user) == []

    clock.set(datetime(2025, 12, 25, 3, 30, tzinfo=UTC))
    await run_reminders(bot)
    await run_reminders(bot)  # the next hour's round: nothing new
    (first,) = reminders_to(bot, user)
    assert "basic</b> plan ends on 2025-12-28 03:00 UTC (about 3 days left)" in (first.text or "")
    (renew,) = first.buttons
    assert renew.text == "🔄 Renew basic" and (renew.callback_data or "").startswith("rnw:")

    clock.set(datetime(2025, 12, 27, 3, 30, tzinfo=UTC))
    await run_reminders(bot)
    await run_reminders(bot)
    _first, second = reminders_to(bot, user)
    assert "about 1 day left" in second.plain
    clock.set(datetime(2025, 12, 28, 4, 0, tzinfo=UTC))  # ended: nothing more
    await run_reminders(bot)
    assert len(reminders_to(bot, user)) == 2
    assert await db_rows(
        bot, "SELECT license_id, days_before, telegram_user_id FROM license_reminders"
    ) == [(1, 3, user.id), (1, 1, user.id)]


async def test_concurrent_rounds_and_a_restarted_service_send_each_reminder_once(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    await licensed(bot, fake)
    clock.set(datetime(2025, 12, 25, 4, 0, tzinfo=UTC))
    services = bot.services
    rounds = await asyncio.gather(*(services.reminders.claim_due() for _ in range(8)))
    assert sorted(len(due) for due in rounds) == [0] * 7 + [1]
    # A new process on the same database (what a restart builds) finds nothing more to send.
    restarted = ReminderService(services.uow, clock, services.licenses, services.crypto)
    assert await restarted.claim_due() == []
    assert await db_rows(bot, "SELECT COUNT(*) FROM license_reminders") == [(1,)]


async def test_a_late_first_round_sends_only_the_nearest_reminder(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await licensed(bot, fake)
    clock.set(datetime(2025, 12, 27, 12, 0, tzinfo=UTC))  # the bot was down for two days
    await run_reminders(bot)
    (only,) = reminders_to(bot, user)
    assert "about 1 day left" in only.plain
    assert await db_rows(bot, "SELECT days_before FROM license_reminders") == [(1,)]


async def test_renew_opens_an_invoice_for_the_same_plan_and_twice_is_still_one(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await licensed(bot, fake)
    clock.set(datetime(2025, 12, 25, 4, 0, tzinfo=UTC))
    await run_reminders(bot)
    (reminder,) = reminders_to(bot, user)
    # The session of November is long over: the Renew button asks to log in first.
    assert await bot.press(user, reminder, "🔄 Renew basic") == []
    assert "log in first" in bot.api.callback_answers[-1]["text"]
    await login(bot, user, email=EMAIL)
    (invoice,) = await bot.press(user, reminder, "🔄 Renew basic")
    assert "Invoice #2" in invoice.plain and "basic plan" in invoice.plain
    assert scan_qr(invoice.photo) == f"tron:{RECEIVE_ADDRESS}?amount=29.00"
    (again,) = await bot.press(user, reminder, "🔄 Renew basic")
    assert "Invoice #2" in again.plain
    assert await db_rows(bot, "SELECT id, plan, status FROM invoices") == [
        (1, "basic", "paid"),
        (2, "basic", "open"),
    ]


async def test_an_extended_license_is_reminded_for_its_new_end_only(
    bot: BotHarness, fake: FakeTronscan, clock: FakeClock
) -> None:
    user = await licensed(bot, fake)
    clock.set(datetime(2025, 12, 25, 4, 0, tzinfo=UTC))
    await run_reminders(bot)
    (reminder,) = reminders_to(bot, user)
    await login(bot, user, email=EMAIL)
    await bot.press(user, reminder, "🔄 Renew basic")
    now_ms = int(clock.now().timestamp()) * 1000
    fake.add(success(tx_hash=tx_hash(2), timestamp=now_ms))
    await bot.send(user, f"/pay 2 {tx_hash(2)}")
    await said(bot, user, "until 2026-01-27 03:00")

    clock.set(datetime(2025, 12, 27, 4, 0, tzinfo=UTC))  # the old end is no end any more
    await run_reminders(bot)
    assert len(reminders_to(bot, user)) == 1
    clock.set(datetime(2026, 1, 24, 4, 0, tzinfo=UTC))
    await run_reminders(bot)
    _old, new = reminders_to(bot, user)
    assert "ends on 2026-01-27 03:00 UTC (about 3 days left)" in new.plain
    assert await db_rows(bot, "SELECT license_id, days_before FROM license_reminders") == [
        (1, 3),
        (2, 3),
    ]


def test_the_rules_of_thresholds_and_continuation() -> None:
    now = datetime(2025, 12, 25, 4, tzinfo=UTC)
    assert due_threshold(ENDS, now, set()) == 3
    assert due_threshold(ENDS, now, {3}) is None
    assert due_threshold(ENDS, datetime(2025, 12, 27, 4, tzinfo=UTC), {3}) == 1
    assert due_threshold(ENDS, datetime(2025, 12, 27, 4, tzinfo=UTC), set()) == 1
    assert due_threshold(ENDS, datetime(2025, 12, 27, 4, tzinfo=UTC), {1}) is None
    assert due_threshold(ENDS, datetime(2025, 12, 25, 2, tzinfo=UTC), set()) is None
    assert due_threshold(ENDS, ENDS, set()) is None

    def row(n: int, starts: datetime, ends: datetime) -> LicenseRecord:
        return LicenseRecord(n, 1, n, "basic", "basic", starts, ends, starts, None)

    first = row(1, datetime(2025, 11, 28, 3, tzinfo=UTC), ENDS)
    follows = row(2, ENDS, datetime(2026, 1, 27, 3, tzinfo=UTC))
    overlaps = row(3, datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    gap = row(4, datetime(2025, 12, 29, tzinfo=UTC), datetime(2026, 1, 29, tzinfo=UTC))
    earlier = row(5, datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))
    assert continued(first, [first, follows]) and continued(first, [overlaps])
    assert not continued(first, [first]) and not continued(first, [gap, earlier])
