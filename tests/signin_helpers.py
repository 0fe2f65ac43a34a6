"""Helpers for the sign-in tests: a bot with the captcha on, and people typing like people."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import aiosqlite
import pyotp

from bot.bootstrap import bootstrap
from bot.fakeapi import Message, TelegramUser
from core.clock import FakeClock
from core.config import Settings
from tests.harness import BotHarness, enrol_2fa_through_core

EMAIL = "trader@example.com"
PASSWORD = "violet canyon trumpet 42 orbit"
OTHER_PASSWORD = "quiet harbour lantern 77 meadow"


@asynccontextmanager
async def bot_with_captcha(settings: Settings, clock: FakeClock) -> AsyncIterator[BotHarness]:
    """A running bot like the default config: the captcha on."""
    with_captcha = replace(settings, security=replace(settings.security, captcha=True))
    services = await bootstrap(with_captcha, clock)
    bot = BotHarness(with_captcha, services)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()
        await services.aclose()


def captcha_answer(bot: BotHarness, user: TelegramUser, flow: str) -> str:
    """What the picture on screen says (a person reads it; the test reads the flow's data)."""
    return str(bot.app.user_data[user.id][flow]["captcha"].answer)


def wrong_answer(bot: BotHarness, user: TelegramUser, flow: str) -> str:
    """A well-formed answer that is surely not the one on screen."""
    right = captcha_answer(bot, user, flow)
    return "ZZZZZ" if right != "ZZZZZ" else "YYYYY"


async def register(
    bot: BotHarness,
    user: TelegramUser,
    email: str = EMAIL,
    password: str = PASSWORD,
    referral: str | None = None,
) -> Message:
    """/register with the password typed twice (and the captcha solved when it is on)."""
    await bot.send(user, "/register")
    await bot.send(user, email)
    await bot.send(user, password)
    replies = await bot.send(user, password)
    if bot.settings.security.captcha:
        replies = await bot.send(user, captcha_answer(bot, user, "register"))
    prompt = replies[-1]
    if referral is None:
        (done,) = await bot.press(user, prompt, "Skip")
    else:
        (done,) = await bot.send(user, referral)
    return done


async def rows(bot: BotHarness, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Query the bot's database file directly, as an auditor would."""
    async with aiosqlite.connect(bot.settings.database.path) as conn:
        async with conn.execute(sql, params) as cur:
            return [tuple(row) for row in await cur.fetchall()]


async def event_types(bot: BotHarness) -> list[str]:
    """Every audit event type, oldest first."""
    return [str(row.event_type) async for row in bot.services.audit.export()]


async def turn_on_2fa(
    bot: BotHarness, user: TelegramUser, clock: FakeClock, password: str = PASSWORD
) -> tuple[pyotp.TOTP, list[str]]:
    """2FA on for the user's logged-in account, the way the phone app would confirm it."""
    services = bot.services
    session = await services.sessions.current(user.id)
    assert session is not None
    totp, codes = await enrol_2fa_through_core(services, session, password, clock.now())
    clock.advance(seconds=30)  # the next code is a new one
    return totp, codes


async def login_with_code(
    bot: BotHarness, user: TelegramUser, code: str, email: str = EMAIL, password: str = PASSWORD
) -> str:
    """/login with the password, then a 2FA or backup code; the last reply's text."""
    await bot.send(user, "/login")
    await bot.send(user, email)
    (ask,) = await bot.send(user, password)
    assert "Two-factor authentication is on" in ask.plain, ask.plain
    return (await bot.send(user, code))[-1].plain
