"""The referrer hears of every commission credited to them, in USDT with two decimals."""

from __future__ import annotations

import pytest

from bot.jobs.outbox import OutboxDelivery
from core.payments.ports import PaymentStatus
from tests.support.fake_tronscan import FakeTronscan, success
from tests.support.harness import BotHarness
from tests.support.steps import EMAIL, OTHER_PASSWORD, db_rows, register

pytestmark = pytest.mark.payments


async def test_the_referrer_is_told_when_a_commission_is_credited(
    bot: BotHarness, fake: FakeTronscan
) -> None:
    referrer, alice = bot.user(1), bot.user(2)
    await register(bot, referrer)
    [(code,)] = await db_rows(bot, "SELECT referral_code FROM users")
    await register(bot, alice, "alice@example.com", OTHER_PASSWORD, referral=code)
    session = await bot.services.sessions.current(alice.id)
    assert session is not None
    invoice = await bot.services.payments.create_invoice(session, "basic")
    payment = await bot.services.payments.submit(session, invoice.id, fake.add(success()))
    before = {user: len(bot.api.sent_to(user)) for user in (1, 2)}
    report = await bot.services.payments.check(payment.id)
    assert report.payment.status == PaymentStatus.APPROVED

    # The bot's own outbox job may claim it first (it runs on its interval): whichever of the
    # two delivers it, it is delivered once, and the other finds nothing left to send.
    delivered_here = await OutboxDelivery().deliver_notices(bot.app.bot, bot.services)
    assert delivered_here in (0, 1)
    await bot.wait_for(lambda: len(bot.api.sent_to(1)) > before[1])
    assert await OutboxDelivery().deliver_notices(bot.app.bot, bot.services) == 0
    [notice] = bot.api.sent_to(1)[before[1] :]
    assert "2.90 USDT referral commission was credited to your /wallet" in notice.plain
    assert "alice" not in notice.plain and EMAIL not in notice.plain  # who paid stays private
    assert not any("commission" in m.plain for m in bot.api.sent_to(2)[before[2] :])
    (wallet,) = await bot.send(referrer, "/wallet")
    assert "Referral earnings (total): 2.90 USDT" in wallet.plain


async def test_no_referrer_no_notice(bot: BotHarness, fake: FakeTronscan) -> None:
    alice = bot.user(2)
    await register(bot, alice, "alice@example.com", OTHER_PASSWORD)
    session = await bot.services.sessions.current(alice.id)
    assert session is not None
    invoice = await bot.services.payments.create_invoice(session, "basic")
    payment = await bot.services.payments.submit(session, invoice.id, fake.add(success()))
    await bot.services.payments.check(payment.id)
    assert await OutboxDelivery().deliver_notices(bot.app.bot, bot.services) == 0
    assert await db_rows(bot, "SELECT COUNT(*) FROM user_notices") == [(0,)]
