"""Shared steps for the attack notebooks on secrets and floods: accounts, 2FA, restarts."""

from __future__ import annotations

import aiosqlite
import pyotp

from bot.bootstrap import bootstrap
from bot.fakeapi import TelegramUser
from core.clock import FakeClock
from core.config import Settings
from core.services import Services
from tests.harness import BotHarness, enrol_2fa_through_core

EMAIL = "trader@example.com"
PASSWORD = "violet canyon trumpet 42 orbit"
NEW_PASSWORD = "quiet harbour lantern 77 meadow"
TOO_MANY = "Too many requests"


async def db_rows(bot: BotHarness, sql: str, *params: object) -> list[tuple]:
    async with aiosqlite.connect(bot.settings.database.path) as conn:
        async with conn.execute(sql, params) as cur:
            return [tuple(row) for row in await cur.fetchall()]


async def db_execute(bot: BotHarness, sql: str, *params: object) -> None:
    async with aiosqlite.connect(bot.settings.database.path) as conn:
        await conn.execute(sql, params)
        await conn.commit()


async def register(bot: BotHarness, user: TelegramUser, email: str = EMAIL) -> None:
    await bot.send(user, "/register")
    await bot.send(user, email)
    await bot.send(user, PASSWORD)
    (prompt,) = await bot.send(user, PASSWORD)  # typed twice
    (done,) = await bot.press(user, prompt, "Skip")
    assert "is ready" in done.plain


async def login(bot: BotHarness, user: TelegramUser, email: str = EMAIL) -> str:
    await bot.send(user, "/login")
    await bot.send(user, email)
    replies = await bot.send(user, PASSWORD)
    return replies[-1].plain


async def enable_2fa_directly(bot: BotHarness, user: TelegramUser, clock: FakeClock) -> pyotp.TOTP:
    """Turn 2FA on through core (the bot's enrolment steps are tested elsewhere)."""
    session = await bot.services.sessions.current(user.id)
    assert session is not None
    totp, _ = await enrol_2fa_through_core(bot.services, session, PASSWORD, clock.now())
    clock.advance(seconds=31)  # the next code is a fresh one
    return totp


async def restart(bot: BotHarness, settings: Settings, clock: FakeClock) -> BotHarness:
    """Stop the bot (the persistence writes what it holds) and start a new process's worth of
    it on the same database: new services, new Application, nothing shared in memory but the
    fake Telegram (the chats are still there)."""
    await bot.stop()
    services: Services = await bootstrap(settings, clock)
    fresh = BotHarness(settings, services, bot.api)
    await fresh.start()
    return fresh


async def stop_restarted(bot: BotHarness) -> None:
    await bot.stop()
    await bot.services.aclose()
