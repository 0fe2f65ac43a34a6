"""Stars need no receive address (SPEC §12): with USDT payments not configured, /subscribe
still offers Telegram Stars and /plans shows their prices; a whole purchase goes through."""

from __future__ import annotations

from tests.support.harness import BotHarness
from tests.support.payment_steps import payer
from tests.support.stars_steps import pay_stars, stars_link, stars_rows


async def test_subscribe_offers_stars_when_usdt_is_not_configured(bot: BotHarness) -> None:
    assert not bot.services.payments.enabled  # the default test config has no address
    alice = await payer(bot, 2, "alice@example.com")
    (pick,) = await bot.send(alice, "/subscribe")
    assert "USDT payments are not set up yet" in pick.plain
    assert [b.callback_data for b in pick.buttons] == ["stars:basic", "stars:pro"]
    (plans,) = await bot.send(alice, "/plans")
    assert "basic: 1500 ⭐ every 30 days" in plans.plain
    assert "pro: 4000 ⭐ every 30 days" in plans.plain
    assert "/subscribe" in plans.plain
    url = await stars_link(bot, alice)
    await pay_stars(bot, alice, url)
    assert await stars_rows(bot) == (1, 1, 0)
    assert "Stars payment #1 received" in bot.texts(alice.id)[-1]
