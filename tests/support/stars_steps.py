"""Steps shared by Telegram Stars tests: a Stars link through /subscribe, Telegram's checkout
(pre_checkout_query) and payment (successful_payment) through the fake Bot API."""

from __future__ import annotations

from bot.fake_telegram import TelegramUser
from bot.fake_telegram.stars import Checkout
from tests.support.harness import BotHarness
from tests.support.steps import db_rows


async def stars_link(bot: BotHarness, user: TelegramUser, plan: str = "basic") -> str:
    """/subscribe, press "Pay with Stars" for ``plan``: the subscription link's URL."""
    (pick,) = await bot.send(user, "/subscribe")
    (link,) = await bot.press(user, pick, f"stars:{plan}")
    (button,) = link.buttons
    assert button.url is not None and button.url.startswith("https://t.me/$"), link.plain
    return button.url


async def checkout(
    bot: BotHarness,
    user: TelegramUser,
    url: str,
    *,
    payload: str | None = None,
    amount: int | None = None,
) -> tuple[str, Checkout]:
    """The user taps Pay: the bot's answer to the pre_checkout_query (id, answer)."""
    query_id = bot.api.user_opens_invoice(user, url, payload=payload, amount=amount)
    await bot.settle()
    answer = bot.api.checkout_answer(query_id)
    return query_id, answer


async def pay_stars(bot: BotHarness, user: TelegramUser, url: str) -> str:
    """Checkout accepted, then Telegram's successful_payment; returns the charge id."""
    query_id, answer = await checkout(bot, user, url)
    assert answer.answer is True, answer.error_message
    charge = bot.api.pay_after_checkout(query_id)
    await bot.settle()
    return charge


def payload_of(bot: BotHarness, url: str) -> str:
    """The payload the bot put in a link (what Telegram stores with it)."""
    return bot.api.stars.links[url].payload


async def stars_rows(bot: BotHarness) -> tuple[int, int, int]:
    """(Stars payments, licenses, Stars alert hits) in the database."""
    [(payments,)] = await db_rows(bot, "SELECT count(*) FROM stars_payments")
    [(licenses,)] = await db_rows(bot, "SELECT count(*) FROM licenses")
    [(alerts,)] = await db_rows(
        bot, "SELECT coalesce(sum(hits), 0) FROM alerts WHERE rule = 'stars_payment_refused'"
    )
    return int(payments), int(licenses), int(alerts)  # sum() is NUMERIC on PostgreSQL
