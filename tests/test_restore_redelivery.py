"""A restore must not send again what the admins and owners were already told (issue #18).

An archive holds the outboxes as they were when it was taken. An alert or a notice still
pending then (Telegram was down, or the row was being sent at that very moment) and delivered
afterwards would come back as pending with the restored file, and the outbox job would send it
a second time. Driven through the real bot against the fake Bot API: /backup, /restore with the
admin's 2FA code, then the outbox job ticks.
"""

from __future__ import annotations

import asyncio
import re

from core.audit.log import AuditEvent, EventType, Severity
from core.clock import FakeClock
from tests.support.constants import ADMIN_CHAT_ID, ADMIN_ID
from tests.support.harness import BotHarness
from tests.support.steps import OTHER_PASSWORD, db_rows, enable_2fa, login, register

NAME = re.compile(r"verzek-\d{8}T\d{6}Z(?:-\d+)?\.tar\.gz")
ALERT = "Admin command by a non-admin"


async def outbox_runs(bot: BotHarness, times: int = 3) -> None:
    """The delivery job runs ``times`` more times now, through the JobQueue's own job."""
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name("outbox")
    for _ in range(times):
        await job.run(bot.app)


async def eventually(bot: BotHarness, sql: str, timeout: float = 5.0) -> list[tuple]:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := await db_rows(bot, sql)):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no rows for {sql}")
        await asyncio.sleep(0.02)
    return found


def alerts_seen(bot: BotHarness) -> int:
    return sum(ALERT in m.plain for m in bot.api.sent_to(ADMIN_CHAT_ID))


async def an_alert(bot: BotHarness) -> None:
    """What the gate records when a stranger tries an admin command (an alert follows)."""
    await bot.services.audit.record(
        AuditEvent(
            EventType.ADMIN_ACTION,
            Severity.WARNING,
            telegram_user_id=4242,
            details={"action": "/stats", "outcome": "denied", "reason": "not an admin"},
        )
    )


async def backup(bot: BotHarness, admin) -> str:
    _started, done = await bot.send(admin, "/backup")
    found = NAME.search(done.plain)
    assert found is not None, done.plain
    return found[0]


async def restore(bot: BotHarness, admin, totp, clock: FakeClock, name: str) -> None:
    (confirm,) = await bot.send(admin, f"/restore {name}")
    await bot.press(admin, confirm, "Restore")
    clock.advance(seconds=30)
    replies = await bot.send(admin, totp.at(clock.now()))
    assert f"Restored {name}" in replies[-1].plain, replies[-1].plain


async def test_an_alert_delivered_before_the_backup_is_not_sent_again(
    bot: BotHarness, clock: FakeClock
) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    totp, _ = await enable_2fa(bot, admin, clock)
    await an_alert(bot)
    await outbox_runs(bot)
    await eventually(bot, "SELECT id FROM alerts WHERE status = 'sent'")
    assert alerts_seen(bot) == 1

    name = await backup(bot, admin)
    clock.advance(minutes=1)
    await restore(bot, admin, totp, clock, name)
    clock.advance(hours=1)  # every backoff long past
    await outbox_runs(bot)
    assert alerts_seen(bot) == 1


async def test_an_alert_pending_at_backup_time_and_delivered_since_is_not_sent_again(
    bot: BotHarness, clock: FakeClock
) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    totp, _ = await enable_2fa(bot, admin, clock)
    bot.api.fail("sendMessage", times=1, status=500)  # Telegram is down for the first try
    await an_alert(bot)
    await outbox_runs(bot, 1)
    await eventually(bot, "SELECT id FROM alerts WHERE last_error IS NOT NULL")
    name = await backup(bot, admin)  # the archive holds the alert as pending

    clock.advance(minutes=1)  # past the backoff: the next run delivers it
    await outbox_runs(bot)
    await eventually(bot, "SELECT id FROM alerts WHERE status = 'sent'")
    assert alerts_seen(bot) == 1

    await restore(bot, admin, totp, clock, name)
    clock.advance(hours=1)
    await outbox_runs(bot)
    assert alerts_seen(bot) == 1, "the restored archive's pending alert was sent again"
    [(status, message_id)] = await db_rows(bot, "SELECT status, telegram_message_id FROM alerts")
    assert status == "sent" and message_id is not None


async def test_an_alert_still_pending_at_restore_time_is_still_delivered(
    bot: BotHarness, clock: FakeClock
) -> None:
    """The other side: what nobody was told yet must still be told after the restore."""
    admin = bot.user(ADMIN_ID, "Admin")
    totp, _ = await enable_2fa(bot, admin, clock)
    bot.api.fail("sendMessage", times=1, status=500)
    await an_alert(bot)
    await outbox_runs(bot, 1)
    await eventually(bot, "SELECT id FROM alerts WHERE last_error IS NOT NULL")
    name = await backup(bot, admin)
    await restore(bot, admin, totp, clock, name)
    # The outbox job ticks on real time: under load its retry may already have come round
    # during the restore. Either way the alert is told exactly once, never lost, never twice.
    assert alerts_seen(bot) <= 1
    clock.advance(hours=1)
    await outbox_runs(bot)
    assert alerts_seen(bot) == 1


async def test_an_owner_notice_delivered_after_the_backup_is_not_sent_again(
    bot: BotHarness, clock: FakeClock
) -> None:
    admin = bot.user(ADMIN_ID, "Admin")
    totp, _ = await enable_2fa(bot, admin, clock)
    bob = bot.user(2002, "Bob")
    await register(bot, bob, "bob@example.com", OTHER_PASSWORD)
    await login(bot, bob, "bob@example.com", OTHER_PASSWORD)
    [(bob_account,)] = await db_rows(bot, "SELECT id FROM users WHERE email = 'bob@example.com'")
    before = len(bot.api.sent_to(bob.id))

    bot.api.fail("sendMessage", times=1, status=500)
    await bot.services.audit.record(
        AuditEvent(
            EventType.EMAIL_CHANGED,
            account_id=bob_account,
            telegram_user_id=1,  # changed from another Telegram account: Bob's chat is told
            details={"old": "b***@example.com", "new": "r***@example.com"},
        )
    )
    await outbox_runs(bot, 1)
    await eventually(bot, "SELECT id FROM user_notices WHERE last_error IS NOT NULL")
    name = await backup(bot, admin)
    clock.advance(minutes=1)
    await outbox_runs(bot)
    await eventually(bot, "SELECT id FROM user_notices WHERE status = 'sent'")
    told = [m.plain for m in bot.api.sent_to(bob.id)[before:]]
    assert len(told) == 1

    await restore(bot, admin, totp, clock, name)
    clock.advance(hours=1)
    await outbox_runs(bot)
    after = [m.plain for m in bot.api.sent_to(bob.id)[before:]]
    # Bob is told once of the e-mail change, and (being logged out by the restore) why.
    assert after[0] == told[0]
    assert sum(text == told[0] for text in after) == 1, after
