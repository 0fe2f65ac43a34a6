"""Steps shared by payment tests: a paying user through the bot, an invoice, waiting for the
bot's background answer, and accounts made straight in core (no password hashing)."""

from __future__ import annotations

from datetime import timedelta

from bot.fake_telegram import TelegramUser
from core.accounts.sessions import Session
from core.services import Services
from tests.support.harness import BotHarness
from tests.support.steps import login, register


async def payer(bot: BotHarness, user_id: int, email: str) -> TelegramUser:
    """A registered, signed-in user of the bot."""
    user = bot.user(user_id)
    await register(bot, user, email=email)
    await login(bot, user, email=email)
    return user


async def invoice_for(bot: BotHarness, user: TelegramUser, plan: str = "basic") -> str:
    """/subscribe and pick ``plan``: the invoice message's text."""
    (pick,) = await bot.send(user, "/subscribe")
    (invoice,) = await bot.press(user, pick, f"sub:{plan}")
    return invoice.plain


async def said(bot: BotHarness, user: TelegramUser, words: str) -> str:
    """Wait for the bot to tell ``user`` something containing ``words`` (background work)."""
    text: str = await bot.wait_for(
        lambda: next((text for text in bot.texts(user.id) if words in text), None)
    )
    return text


async def core_account(services: Services, n: int) -> Session:
    """An account made in storage directly and a session object for it."""
    async with services.uow() as uow:
        account_id = await uow.accounts.add(
            email=f"core{n}@example.com",
            password_hash="x",
            referral_code=f"CORE{n:04d}",
            referred_by=None,
            created_at=services.clock.now(),
        )
        await uow.commit()
    now = services.clock.now()
    return Session(account_id * 100, account_id, 7000 + n, now, now + timedelta(hours=1))
